import { describe, expect, it } from 'vitest';
import { createBuffer, createBufferChecked, readF32, readU32, uploadBuffer, writeBuffer } from '../../src/engine/gpu/buffers';
import { GpuDeviceLostError, GpuError, GpuValidationError } from '../../src/engine/gpu/errors';
import { createNodeGpu } from '../../src/engine/gpu/node';
import { Recorder } from '../../src/engine/gpu/recorder';
import { GpuTimer } from '../../src/engine/gpu/timer';
import { Uniforms } from '../../src/engine/gpu/uniforms';
import { testGpu } from '../helpers/gpu';

const fill = {
  name: 'test_fill',
  source: `
struct P { n: u32, value: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < p.n) { out[id.x] = p.value + f32(id.x); }
}`,
};

describe('GPU runtime', () => {
  it('gets a device with the adapter real limits and reports it', async () => {
    const gpu = await testGpu();
    expect(gpu.adapter.name.length).toBeGreaterThan(0);
    expect(gpu.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(gpu.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
    expect(gpu.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(16384);
  });

  it('uploads, dispatches with uniforms, and reads back', async () => {
    const gpu = await testGpu();
    const out = createBuffer(gpu, 'fill out', 1000 * 4);
    const rec = new Recorder(gpu, 'fill');
    rec.dispatch({ kernel: fill, constants: { WG: 64 }, uniforms: new Uniforms().u32(1000).f32(0.5), bindings: [out], workgroups: [Math.ceil(1000 / 64)] });
    rec.dispatch({ kernel: fill, constants: { WG: 64 }, uniforms: new Uniforms().u32(10).f32(-100), bindings: [out], workgroups: [1] });
    await rec.done();
    const values = await readF32(gpu, out);
    expect(values[0]).toBe(-100);
    expect(values[9]).toBe(-91);
    expect(values[10]).toBe(10.5);
    expect(values[999]).toBe(999.5);
    const u = uploadBuffer(gpu, 'odd bytes', new Uint8Array([1, 2, 3, 4, 5, 6]));
    writeBuffer(gpu, u, new Uint32Array([0xdeadbeef]));
    expect([...(await readU32(gpu, u))]).toEqual([0xdeadbeef, 0x0605]);
  });

  it('refuses a buffer above maxBufferSize with an error naming its label', async () => {
    const gpu = await testGpu();
    expect(() => createBuffer(gpu, 'huge activations', gpu.limits.maxBufferSize + 4)).toThrow(GpuError);
    expect(() => createBuffer(gpu, 'huge activations', gpu.limits.maxBufferSize + 4)).toThrow(/"huge activations"/);
  });

  it('turns a validation error into a typed error naming the label', async () => {
    const gpu = await testGpu();
    // MAP_READ may only be combined with COPY_DST: a validation error.
    const promise = createBufferChecked(gpu, 'bad usage buffer', 64, GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE);
    await expect(promise).rejects.toBeInstanceOf(GpuValidationError);
    await expect(createBufferChecked(gpu, 'bad usage buffer', 64, GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE)).rejects.toThrow(/"bad usage buffer"/);
  });

  it('refuses a dispatch grid beyond the device limit, naming the dispatch', async () => {
    const gpu = await testGpu();
    const out = createBuffer(gpu, 'grid out', 16);
    const rec = new Recorder(gpu, 'grid');
    expect(() =>
      rec.dispatch({ kernel: fill, constants: { WG: 64 }, uniforms: new Uniforms().u32(1).f32(0), bindings: [out], workgroups: [gpu.limits.maxComputeWorkgroupsPerDimension + 1], label: 'too wide' }),
    ).toThrow(/too wide/);
  });

  it('times passes with timestamp queries when the adapter has them', async () => {
    const gpu = await testGpu();
    const timer = new GpuTimer(gpu);
    expect(timer.source).toBe(gpu.features.timestamps ? 'timestamp-query' : 'wall-clock');
    const out = createBuffer(gpu, 'timed out', 4096 * 4);
    const ms = await timer.median(3, async (t) => {
      const rec = new Recorder(gpu, 'timed', t);
      rec.dispatch({ kernel: fill, constants: { WG: 64 }, uniforms: new Uniforms().u32(4096).f32(1), bindings: [out], workgroups: [64], label: 'fill 4096' });
      await rec.done();
    });
    expect(ms).toBeGreaterThanOrEqual(0);
    expect(ms).toBeLessThan(10_000);
    console.log(`[gpu] timer source ${timer.source}: fill of 4096 floats took ${ms.toFixed(4)} ms`);
  });

  it('surfaces device loss as an event and as a typed error afterwards', async () => {
    const gpu = await createNodeGpu({ label: 'doomed device' });
    const lost = new Promise<GpuDeviceLostError>((resolve) => gpu.onLost(resolve));
    gpu.device.destroy();
    const error = await lost;
    expect(error).toBeInstanceOf(GpuDeviceLostError);
    expect(error.reason).toBe('destroyed');
    expect(() => createBuffer(gpu, 'after loss', 16)).toThrow(GpuDeviceLostError);
    // A late subscriber hears about it at once.
    let late: GpuDeviceLostError | null = null;
    gpu.onLost((e) => (late = e));
    expect(late).toBe(error);
  });

  it('can leave out optional features (forcing the f32 path)', async () => {
    const gpu = await createNodeGpu({ disableFeatures: ['shader-f16', 'timestamp-query', 'subgroups'] });
    expect(gpu.features).toEqual({ f16: false, subgroups: false, timestamps: false });
    gpu.destroy();
  });
});
