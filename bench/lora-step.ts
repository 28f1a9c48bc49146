// One LoRA training step over the linear projections of a decoder layer, ours against TF.js
// autograd: for every projection y = x·Wᵀ (+ s·(x·Aᵀ)·Bᵀ when it carries LoRA), then the backward
// from a given dy: dx for every projection (the frozen base needs only input gradients) and dA, dB
// for the adapted ones (DESIGN.md §2, dropout off). Attention, norms and the MLP's activation are not
// in it: the projections are ~all of a layer's FLOPs at these sequence lengths.
import type { Gpu } from '../src/engine/gpu/device';
import { createBuffer, uploadBuffer } from '../src/engine/gpu/buffers';
import type { Recorder } from '../src/engine/gpu/recorder';
import { matmul, matmulDyTX, matmulDyW, matmulXWt } from '../src/engine/kernels/matmul/matmul';
import { matmulFlops, median, repeatRuns, type Measurement, type RepeatOptions } from './harness';
import { randomValues, timeOurs } from './ours';
import { loadTf, timeTf } from './peers/tfjs';
import { projections, type ModelShape } from './shapes';

export interface LoraStepCase {
  name: string;
  model: ModelShape;
  tokens: number;
  rank: number;
  targets: string[];
  /** Projections of the layer that run (all seven normally; fewer for --quick). */
  projections: string[];
  flops: number;
}

export function loraStepCase(model: ModelShape, tokens: number, rank: number, targets: string[], only?: string[]): LoraStepCase {
  const projs = only ?? Object.keys(projections(model));
  let flops = 0;
  for (const p of projs) {
    const [inF, outF] = projections(model)[p];
    flops += 2 * matmulFlops(tokens, outF, inF); // y and dx
    if (targets.includes(p)) {
      // u, u·Bᵀ, dB, du, dA, du·A
      flops += matmulFlops(tokens, rank, inF) * 3 + matmulFlops(tokens, outF, rank) * 3;
    }
  }
  const scope = only ? only.join(',') : '1 layer';
  return { name: `${model.name} T${tokens} r${rank} on ${targets.join(',')} (${scope})`, model, tokens, rank, targets, projections: projs, flops };
}

const ALPHA = 16;

export async function benchOursLoraStep(gpu: Gpu, c: LoraStepCase, options: RepeatOptions): Promise<Measurement> {
  const T = c.tokens;
  const r = c.rank;
  const s = ALPHA / r;
  const buffers: GPUBuffer[] = [];
  const up = (label: string, n: number, seed: number) => {
    const b = uploadBuffer(gpu, label, randomValues(n, seed));
    buffers.push(b);
    return b;
  };
  const make = (label: string, n: number) => {
    const b = createBuffer(gpu, label, 4 * n);
    buffers.push(b);
    return b;
  };
  const layers = c.projections.map((p, i) => {
    const [inF, outF] = projections(c.model)[p];
    const lora = c.targets.includes(p);
    return {
      p, inF, outF, lora,
      x: up(`${p} x`, T * inF, 10 * i + 1), w: up(`${p} W`, outF * inF, 10 * i + 2), dy: up(`${p} dy`, T * outF, 10 * i + 3),
      y: make(`${p} y`, T * outF), dx: make(`${p} dx`, T * inF),
      a: lora ? up(`${p} lora A`, r * inF, 10 * i + 4) : null, b: lora ? up(`${p} lora B`, outF * r, 10 * i + 5) : null,
      u: lora ? make(`${p} u`, T * r) : null, du: lora ? make(`${p} du`, T * r) : null,
      da: lora ? make(`${p} dA`, r * inF) : null, db: lora ? make(`${p} dB`, outF * r) : null,
    };
  });
  const record = (rec: Recorder) => {
    for (const l of layers) {
      matmulXWt(rec, l.x, l.w, l.y, T, l.inF, l.outF);
      if (l.lora) {
        matmulXWt(rec, l.x, l.a!, l.u!, T, l.inF, r);
        matmul(rec, { a: l.u!, b: l.b!, c: l.y, M: T, N: l.outF, K: r, transB: true, alpha: s, accumulate: true, beta: 1 });
      }
    }
    for (const l of [...layers].reverse()) {
      matmulDyW(rec, l.dy, l.w, l.dx, T, l.outF, l.inF);
      if (l.lora) {
        matmulDyTX(rec, l.dy, l.u!, l.db!, T, l.outF, r, { alpha: s });
        matmulDyW(rec, l.dy, l.b!, l.du!, T, l.outF, r, { alpha: s });
        matmulDyTX(rec, l.du!, l.x, l.da!, T, r, l.inF);
        matmul(rec, { a: l.du!, b: l.a!, c: l.dx, M: T, N: l.inF, K: r, accumulate: true, beta: 1 });
      }
    }
  };
  try {
    const t = await timeOurs(gpu, 'lora step', record, options);
    return { group: 'lora-step', name: c.name, impl: 'ours', ms: median(t.samples), samples: t.samples, timing: t.timing, flops: c.flops, note: `matmul kernels; wall ${t.wallMs.toFixed(1)} ms` };
  } finally {
    for (const b of buffers) b.destroy();
  }
}

/** The same step written with TF.js autograd: tf.grads of Σ_p sum(y_p ⊙ dy_p) with respect to x_p, A_p, B_p. */
export async function benchTfLoraStep(c: LoraStepCase, options: RepeatOptions): Promise<Measurement> {
  const { tf } = await loadTf();
  const T = c.tokens;
  const r = c.rank;
  const s = ALPHA / r;
  const layers = c.projections.map((p, i) => {
    const [inF, outF] = projections(c.model)[p];
    const lora = c.targets.includes(p);
    return {
      x: tf.tensor2d(randomValues(T * inF, 10 * i + 1), [T, inF]),
      w: tf.tensor2d(randomValues(outF * inF, 10 * i + 2), [outF, inF]),
      dy: tf.tensor2d(randomValues(T * outF, 10 * i + 3), [T, outF]),
      a: lora ? tf.tensor2d(randomValues(r * inF, 10 * i + 4), [r, inF]) : null,
      b: lora ? tf.tensor2d(randomValues(outF * r, 10 * i + 5), [outF, r]) : null,
    };
  });
  const wrt = layers.flatMap((l) => [l.x, ...(l.a ? [l.a, l.b!] : [])]);
  const loss = (...args: import('@tensorflow/tfjs-core').Tensor[]) => {
    let at = 0;
    let total: import('@tensorflow/tfjs-core').Tensor = tf.scalar(0);
    for (const l of layers) {
      const x = args[at++] as import('@tensorflow/tfjs-core').Tensor2D;
      let y = tf.matMul(x, l.w, false, true);
      if (l.a) {
        const a = args[at++] as import('@tensorflow/tfjs-core').Tensor2D;
        const b = args[at++] as import('@tensorflow/tfjs-core').Tensor2D;
        y = tf.add(y, tf.mul(tf.matMul(tf.matMul(x, a, false, true), b, false, true), s));
      }
      total = tf.add(total, tf.sum(tf.mul(y, l.dy)));
    }
    return total as import('@tensorflow/tfjs-core').Scalar;
  };
  const grads = tf.grads(loss);
  let timing: Measurement['timing'] = 'wall-clock';
  try {
    const samples = await repeatRuns(async () => {
      const t = await timeTf(tf, () => {
        tf.tidy(() => {
          grads(wrt);
        });
      });
      timing = t.timing;
      return t.ms;
    }, options);
    return { group: 'lora-step', name: c.name, impl: 'tfjs', ms: median(samples), samples, timing, flops: c.flops, note: 'tf.grads (autograd)' };
  } finally {
    tf.dispose(layers.flatMap((l) => [l.x, l.w, l.dy, ...(l.a ? [l.a, l.b!] : [])]));
  }
}
