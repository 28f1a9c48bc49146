/**
 * Launchers of first-token pooling (pooling.ref.ts has the math): the heads of BERT (pooler),
 * RoBERTa (classifier) and DistilBERT (pre_classifier) all start from hidden_states[:, 0].
 */
import type { Binding, Recorder } from '../../gpu/recorder';
import type { Kernel } from '../../gpu/pipelines';
import { Uniforms } from '../../gpu/uniforms';
import { elementwiseWorkgroupSize, grid1d } from '../elementwise/grid';
import { wgslSections } from '../elementwise/sections';
import source from './pooling.wgsl?raw';

export const firstTokenForwardKernel: Kernel = { name: 'first_token_forward', source: wgslSections(source, ['FORWARD'], 'pooling.wgsl') };
export const firstTokenBackwardKernel: Kernel = { name: 'first_token_backward', source: wgslSections(source, ['BACKWARD'], 'pooling.wgsl') };

export interface FirstTokenShape {
  /** Sequences. */
  B: number;
  /** Tokens per sequence. */
  T: number;
  C: number;
  label?: string;
}

export interface FirstTokenForwardArgs extends FirstTokenShape {
  /** [B*T, C] f32, the encoder's last hidden states */
  x: Binding;
  /** [B, C] f32 */
  out: Binding;
}

export interface FirstTokenBackwardArgs extends FirstTokenShape {
  /** [B, C] f32 */
  dout: Binding;
  /** [B*T, C] f32: overwritten (zeros but the first rows), or only its first rows added to with accumulate */
  dx: Binding;
  accumulate?: boolean;
}

/** out[b] = x[b·T] */
export function firstTokenForward(rec: Recorder, a: FirstTokenForwardArgs): void {
  const label = a.label ?? 'first token forward';
  const wg = elementwiseWorkgroupSize(rec.gpu);
  rec.dispatch({
    kernel: firstTokenForwardKernel,
    label,
    constants: { WG: wg, ACCUMULATE: false },
    uniforms: new Uniforms().u32(a.B).u32(a.T).u32(a.C).u32(0),
    bindings: [a.x, a.out],
    workgroups: grid1d(rec.gpu, a.B * a.C, wg, label),
  });
}

/** dx = dout scattered to the first row of each sequence, zeros elsewhere (or dx[b·T] += dout[b]). */
export function firstTokenBackward(rec: Recorder, a: FirstTokenBackwardArgs): void {
  const label = a.label ?? 'first token backward';
  const wg = elementwiseWorkgroupSize(rec.gpu);
  const accumulate = Boolean(a.accumulate);
  rec.dispatch({
    kernel: firstTokenBackwardKernel,
    label,
    constants: { WG: wg, ACCUMULATE: accumulate },
    uniforms: new Uniforms().u32(a.B).u32(a.T).u32(a.C).u32(0),
    bindings: [a.dout, a.dx],
    workgroups: grid1d(rec.gpu, (accumulate ? 1 : a.T) * a.B * a.C, wg, label),
  });
}
