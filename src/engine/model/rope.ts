import type { ModelSpec } from '../../formats/hfConfig';
import { ropeInvFreq, type RopeConfig } from '../../formats/rope';

/** The RoPE settings of a model spec, as the rope kernels and their reference take them. */
export function ropeConfig(spec: Pick<ModelSpec, 'headDim' | 'ropeTheta' | 'ropeScaling'>): RopeConfig {
  const scaling = spec.ropeScaling ? { ...spec.ropeScaling, type: 'llama3' as const } : undefined;
  return { headSize: spec.headDim, theta: spec.ropeTheta, scaling };
}

/**
 * RoPE inverse frequencies of a model, HF convention: inv_freq[i] = θ^(−2i/HS), i < HS/2, with
 * Llama 3's rope_scaling. One implementation (kernels/rope/invFreq.ts) serves the GPU model and
 * the float64 reference.
 */
export function ropeInverseFrequencies(spec: Pick<ModelSpec, 'headDim' | 'ropeTheta' | 'ropeScaling'>): Float64Array {
  return ropeInvFreq(ropeConfig(spec));
}
