/**
 * RoPE inverse frequencies, shared by the float64 reference and the GPU launcher (which uploads
 * them once as f32). Mirrors Hugging Face's `_compute_default_rope_parameters` and
 * `_compute_llama3_parameters` (transformers modeling_rope_utils).
 */

export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    };

export interface RopeConfig {
  /** Rotated dimensions per head: the head size HS (partial rotary is not used by these models). */
  headSize: number;
  /** rope_theta, the base of the frequencies. */
  theta: number;
  scaling?: RopeScaling;
}

export class RopeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RopeConfigError';
  }
}

/** inv_freq[i] = theta^(−2i/HS), i < HS/2, then rescaled as the config's rope_scaling says. */
export function ropeInvFreq(config: RopeConfig): Float64Array {
  const { headSize, theta } = config;
  if (!Number.isInteger(headSize) || headSize < 2 || headSize % 2 !== 0) {
    throw new RopeConfigError(`RoPE head size must be an even integer ≥ 2, got ${headSize}`);
  }
  if (!(theta > 0)) throw new RopeConfigError(`rope_theta must be positive, got ${theta}`);
  const half = headSize / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / theta ** ((2 * i) / headSize);
  const scaling = config.scaling ?? { type: 'default' };
  if (scaling.type === 'linear') {
    if (!(scaling.factor > 0)) throw new RopeConfigError(`rope_scaling linear factor must be positive, got ${scaling.factor}`);
    for (let i = 0; i < half; i++) inv[i] /= scaling.factor;
  } else if (scaling.type === 'llama3') {
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldContext } = scaling;
    if (!(factor > 0) || !(highFreqFactor > lowFreqFactor) || !(oldContext > 0)) {
      throw new RopeConfigError(
        `rope_scaling llama3 needs factor > 0, high_freq_factor > low_freq_factor and original_max_position_embeddings > 0; ` +
          `got factor ${factor}, low ${lowFreqFactor}, high ${highFreqFactor}, original ${oldContext}`,
      );
    }
    const lowFreqWavelen = oldContext / lowFreqFactor;
    const highFreqWavelen = oldContext / highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowFreqWavelen) {
        inv[i] /= factor; // long wavelengths: interpolate fully
      } else if (wavelen >= highFreqWavelen) {
        // Medium band: blend between the scaled and the original frequency.
        const smooth = (oldContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        inv[i] = ((1 - smooth) * inv[i]) / factor + smooth * inv[i];
      } // short wavelengths (high frequencies) stay as they are
    }
  }
  return inv;
}

/** Reads HF config.json's rope_scaling (null, or {rope_type|type, factor, …}). */
export function ropeScalingFromHf(raw: unknown): RopeScaling {
  if (raw === null || raw === undefined) return { type: 'default' };
  if (typeof raw !== 'object') throw new RopeConfigError(`config.json rope_scaling must be an object or null, got ${JSON.stringify(raw)}`);
  const r = raw as Record<string, unknown>;
  const kind = String(r.rope_type ?? r.type ?? 'default');
  const num = (key: string): number => {
    const v = r[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new RopeConfigError(`config.json rope_scaling (${kind}) needs a number "${key}", got ${JSON.stringify(v)}`);
    return v;
  };
  if (kind === 'default') return { type: 'default' };
  if (kind === 'linear') return { type: 'linear', factor: num('factor') };
  if (kind === 'llama3') {
    return {
      type: 'llama3',
      factor: num('factor'),
      lowFreqFactor: num('low_freq_factor'),
      highFreqFactor: num('high_freq_factor'),
      originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
    };
  }
  throw new RopeConfigError(`config.json rope_scaling type "${kind}" is not supported (default, linear and llama3 are)`);
}
