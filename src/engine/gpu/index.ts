export * from './errors';
export * from './device';
export * from './buffers';
export * from './pipelines';
export * from './recorder';
export * from './timer';
export * from './uniforms';
export * from './warm';
