// The model shapes the benchmark runs at (DESIGN.md §3), and the matmul cases derived from them.
import { matmulFlops } from './harness';

export interface ModelShape {
  name: string;
  C: number;
  I: number;
  NH: number;
  KVH: number;
  HS: number;
  V: number;
  layers: number;
}

export const SMOLLM2_135M: ModelShape = { name: 'SmolLM2-135M', C: 576, I: 1536, NH: 9, KVH: 3, HS: 64, V: 49152, layers: 30 };
export const QWEN25_05B: ModelShape = { name: 'Qwen2.5-0.5B', C: 896, I: 4864, NH: 14, KVH: 2, HS: 64, V: 151936, layers: 24 };

/** The seven LoRA-targetable projections of a decoder layer: [in, out] features. */
export function projections(m: ModelShape): Record<string, [number, number]> {
  return {
    q: [m.C, m.NH * m.HS],
    k: [m.C, m.KVH * m.HS],
    v: [m.C, m.KVH * m.HS],
    o: [m.NH * m.HS, m.C],
    gate: [m.C, m.I],
    up: [m.C, m.I],
    down: [m.I, m.C],
  };
}

/** The three layouts a linear layer's training step runs (see matmul.wgsl). */
export type Layout = 'fwd X·Wᵀ' | 'dX = dY·W' | 'dW = dYᵀ·X';
export const LAYOUTS: readonly Layout[] = ['fwd X·Wᵀ', 'dX = dY·W', 'dW = dYᵀ·X'];

export interface MatmulCase {
  /** Shown in the table, identical for ours and the peers. */
  name: string;
  layout: Layout;
  /** Tokens (rows of X), in features, out features of the linear layer. */
  tokens: number;
  inF: number;
  outF: number;
  flops: number;
}

export function matmulCase(model: ModelShape, proj: string, tokens: number, layout: Layout): MatmulCase {
  const [inF, outF] = projections(model)[proj];
  return {
    name: `${model.name} ${proj} ${tokens}×${inF}→${outF} ${layout}`,
    layout,
    tokens,
    inF,
    outF,
    flops: matmulFlops(tokens, outF, inF),
  };
}

/**
 * The matmul cases of a run, sized so the full run stays within ~15 minutes on a software adapter:
 * SmolLM2's q projection at T 256 and 512 in all three layouts; its MLP up projection (C→I) and
 * Qwen2.5's q projection at T 256 in all three layouts and at T 512 forward; Qwen2.5's up projection
 * at T 256 forward. Quick: SmolLM2's q projection at T 256, forward only.
 */
export function matmulCases(quick: boolean): MatmulCase[] {
  if (quick) return [matmulCase(SMOLLM2_135M, 'q', 256, 'fwd X·Wᵀ')];
  const cases: MatmulCase[] = [];
  for (const tokens of [256, 512]) for (const layout of LAYOUTS) cases.push(matmulCase(SMOLLM2_135M, 'q', tokens, layout));
  for (const [model, proj] of [[SMOLLM2_135M, 'up'], [QWEN25_05B, 'q']] as const) {
    for (const layout of LAYOUTS) cases.push(matmulCase(model, proj, 256, layout));
    cases.push(matmulCase(model, proj, 512, 'fwd X·Wᵀ'));
  }
  cases.push(matmulCase(QWEN25_05B, 'up', 256, 'fwd X·Wᵀ'));
  return cases;
}
