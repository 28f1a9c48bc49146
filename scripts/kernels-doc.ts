/**
 * Writes docs/kernels.md: one row per kernel (inputs, outputs, shapes, what it saves for
 * backward) from the table below, and the measured max error against the float64 reference
 * from test-results/kernel-errors.jsonl (appended by the GPU kernel tests through
 * recordKernelError). Run the kernel tests first, then `npm run docs:kernels`.
 *
 * For each (op, pass, case, adapter) only the latest record counts, so re-running a test
 * replaces its old number; a kernel's error is the max over its cases.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

type Pass = 'forward' | 'backward' | 'step';

interface KernelRow {
  /** Shown in the first column. */
  kernel: string;
  /** Source folder under src/engine/kernels. */
  folder: string;
  /** Launcher(s). */
  launcher: string;
  inputs: string;
  outputs: string;
  saves: string;
  /** Which records of kernel-errors.jsonl measure this kernel (op names as the tests record them). */
  measured: { op: string; pass: Pass }[];
  /** Said instead of a number when the kernel has no float comparison (bit-exact tests etc.). */
  note?: string;
}

// Letters: N tokens, C hidden, NH/KVH heads, HS head size, I intermediate, V vocab, R rank, P parameters;
// encoders: B sequences of T tokens, L num_labels, P position-table rows, TV token types.
export const KERNELS: KernelRow[] = [
  {
    kernel: 'embedding forward',
    folder: 'embedding',
    launcher: '`embeddingForward`',
    inputs: 'ids u32/i32 [N]; W [V, C] f32/f16, split by rows into bindings (`SplitWeight`, shared with the tied LM head)',
    outputs: 'x [N, C] f32 (ids outside [0, V) give zero rows)',
    saves: '— (frozen, no backward)',
    measured: [{ op: 'embedding', pass: 'forward' }],
  },
  {
    kernel: 'rmsnorm forward',
    folder: 'rmsnorm',
    launcher: '`rmsnormForward`',
    inputs: 'x [rows, C] f32; w [C] f32/f16; eps (rows = N, or N·NH / N·KVH with C = HS for q/k norm)',
    outputs: 'out [rows, C] f32',
    saves: 'rrms [rows] (1/RMS), plus the input x',
    measured: [{ op: 'rmsnorm', pass: 'forward' }],
  },
  {
    kernel: 'rmsnorm backward',
    folder: 'rmsnorm',
    launcher: '`rmsnormBackward`',
    inputs: 'dy [rows, C]; x [rows, C]; w [C]; rrms [rows]',
    outputs: 'dx [rows, C] (= or += with `accumulate`)',
    saves: '—',
    measured: [{ op: 'rmsnorm', pass: 'backward' }],
  },
  {
    kernel: 'rope forward',
    folder: 'rope',
    launcher: '`ropeForward`',
    inputs: 'x = q [N, NH·HS] or k [N, KVH·HS] (in place); positionIds u32 [N]; invFreq [HS/2] (rope_theta, llama3/linear scaling)',
    outputs: 'x rotated in place (HF rotate_half)',
    saves: '— (positions and invFreq are step inputs)',
    measured: [{ op: 'rope', pass: 'forward' }],
  },
  {
    kernel: 'rope backward',
    folder: 'rope',
    launcher: '`ropeBackward`',
    inputs: 'dq [N, NH·HS] or dk [N, KVH·HS] (in place); positionIds; invFreq',
    outputs: 'gradients rotated back in place (inverse rotation)',
    saves: '—',
    measured: [{ op: 'rope', pass: 'backward' }],
  },
  {
    kernel: 'attention forward',
    folder: 'attention',
    launcher: '`attentionForward`',
    inputs: 'q [N, NH·HS]; k, v [N, KVH·HS]; segmentIds u32 [N]; B, T (causal, GQA, packed segments)',
    outputs: 'out [N, NH·HS] (flash attention: online softmax, no T×T scores in memory)',
    saves: 'lse [N, NH] (log-sum-exp per query row and head), plus q, k, v, out',
    measured: [{ op: 'attention', pass: 'forward' }],
  },
  {
    kernel: 'attention backward',
    folder: 'attention',
    launcher: '`attentionBackward`',
    inputs: 'dout [N, NH·HS]; q, k, v, out, lse, segmentIds',
    outputs: 'dq [N, NH·HS]; dk, dv [N, KVH·HS] (scores recomputed from q, k and lse; delta = rowsum(dout·out))',
    saves: '—',
    measured: [{ op: 'attention', pass: 'backward' }],
  },
  {
    kernel: 'attention forward, bidirectional (encoders)',
    folder: 'attention',
    launcher: '`bidirectionalAttentionForward`',
    inputs: 'q [N, NH·HS]; k, v [N, KVH·HS]; keyMask u32 [N] (attention_mask: 0 = padding); B, T; dropout p + Philox key (optional, also for the causal launchers)',
    outputs: 'out [N, NH·HS] = (softmax(scale·q·kᵀ + key mask) ⊙ drop)·v (padded queries attend the real keys; a row without one gives 0)',
    saves: 'lse [N, NH] (undropped), plus q, k, v, out; the dropout mask is redrawn, never stored',
    measured: [{ op: 'attention_bidirectional', pass: 'forward' }, { op: 'attention_dropout', pass: 'forward' }],
  },
  {
    kernel: 'attention backward, bidirectional (encoders)',
    folder: 'attention',
    launcher: '`bidirectionalAttentionBackward`',
    inputs: 'dout [N, NH·HS]; q, k, v, out, lse, keyMask; the same dropout key',
    outputs: 'dq [N, NH·HS]; dk, dv [N, KVH·HS] (the forward\'s dropout mask redrawn in the dq and dk/dv kernels)',
    saves: '—',
    measured: [{ op: 'attention_bidirectional', pass: 'backward' }, { op: 'attention_dropout', pass: 'backward' }],
  },
  {
    kernel: 'swiglu forward',
    folder: 'swiglu',
    launcher: '`swigluForward`',
    inputs: 'gate [N, I]; up [N, I]',
    outputs: 'h [N, I] = silu(gate)·up',
    saves: '— (the backward reads gate and up)',
    measured: [{ op: 'swiglu', pass: 'forward' }],
  },
  {
    kernel: 'swiglu backward',
    folder: 'swiglu',
    launcher: '`swigluBackward`',
    inputs: 'dh [N, I]; gate; up',
    outputs: 'dgate [N, I]; dup [N, I]',
    saves: '—',
    measured: [{ op: 'swiglu', pass: 'backward' }],
  },
  {
    kernel: 'layernorm forward',
    folder: 'layernorm',
    launcher: '`layernormForward`',
    inputs: 'x [rows, C] f32; weight, bias [C] f32/f16; eps (1e-12 BERT/DistilBERT, 1e-5 roberta-base)',
    outputs: 'out [rows, C] = (x − mean)·rstd·weight + bias (biased variance, two passes)',
    saves: 'mean, rstd [rows], plus the input x',
    measured: [{ op: 'layernorm', pass: 'forward' }],
  },
  {
    kernel: 'layernorm backward',
    folder: 'layernorm',
    launcher: '`layernormBackward`, `layernormParamGrads`',
    inputs: 'dy [rows, C]; x; weight; mean; rstd',
    outputs: 'dx [rows, C] (= or += with `accumulate`); dweight, dbias [C] += (only for runs that train a norm)',
    saves: '—',
    measured: [{ op: 'layernorm', pass: 'backward' }],
  },
  {
    kernel: 'gelu forward (erf form)',
    folder: 'gelu',
    launcher: '`geluForward`',
    inputs: 'x [N, I] f32',
    outputs: 'y [N, I] = 0.5·x·(1 + erf(x/√2)) (own f32 erf, erf.wgsl; its error is the "erf" record)',
    saves: '— (the backward reads x)',
    measured: [{ op: 'gelu', pass: 'forward' }, { op: 'erf', pass: 'forward' }],
  },
  {
    kernel: 'gelu backward',
    folder: 'gelu',
    launcher: '`geluBackward`',
    inputs: 'dy [N, I]; x',
    outputs: 'dx [N, I] = dy·(Φ(x) + x·φ(x))',
    saves: '—',
    measured: [{ op: 'gelu', pass: 'backward' }],
  },
  {
    kernel: 'tanh / relu (heads)',
    folder: 'activation',
    launcher: '`tanhForward`, `tanhBackward`, `reluForward`, `reluBackward`',
    inputs: 'x [count] (forward); dy and the forward\'s output y (backward)',
    outputs: 'y = tanh(x) or max(x, 0); dx = dy·(1 − y²) or dy·[y > 0]',
    saves: 'the output y',
    measured: [{ op: 'tanh', pass: 'forward' }, { op: 'tanh', pass: 'backward' }, { op: 'relu', pass: 'forward' }, { op: 'relu', pass: 'backward' }],
  },
  {
    kernel: 'hidden dropout',
    folder: 'dropout',
    launcher: '`dropoutForward`, `dropoutBackward`',
    inputs: 'x or dy [N, C]; p; Philox key (seed, site, step) as LoRA dropout; optional residual',
    outputs: 'out = x ⊙ mask/(1−p) (+ residual), or in place; dx (= or +=) dy ⊙ mask/(1−p)',
    saves: '— (the mask is redrawn from the key)',
    measured: [{ op: 'dropout', pass: 'forward' }, { op: 'dropout', pass: 'backward' }],
  },
  {
    kernel: 'dense with weight and bias gradients (heads)',
    folder: 'dense',
    launcher: '`denseForward`, `denseBackward`',
    inputs: 'x [N, IN]; W [OUT, IN] f32 (trained) or f16 (frozen); b [OUT]; element offsets into flat buffers',
    outputs: 'y = x·Wᵀ + b; dx (= or +=) dy·W; dW += dyᵀ·x; db += column sums of dy',
    saves: '— (the caller keeps x)',
    measured: [{ op: 'dense', pass: 'forward' }, { op: 'dense', pass: 'backward' }],
  },
  {
    kernel: 'first-token pooling',
    folder: 'pooling',
    launcher: '`firstTokenForward`, `firstTokenBackward`',
    inputs: 'x [B·T, C] (forward); dout [B, C] (backward)',
    outputs: 'out [B, C] = x[b·T]; dx [B·T, C] with dout in each first row, zeros elsewhere (or += into the first rows)',
    saves: '—',
    measured: [{ op: 'first_token', pass: 'forward' }, { op: 'first_token', pass: 'backward' }],
  },
  {
    kernel: 'classification losses (CE, MSE, BCE)',
    folder: 'classify',
    launcher: '`classificationLoss`',
    inputs: 'logits [B, L]; labels i32 [B] (−100 ignored) or f32 targets [B, L]; task; gradScale',
    outputs: 'rowLoss [B]; dlogits [B, L] = gradScale·d(lossSum)/dlogits; predictions u32 [B] (argmax); lossSum f32, count u32, correct u32 (= or +=)',
    saves: '— (the gradient comes out of the same pass)',
    measured: [{ op: 'classify', pass: 'forward' }, { op: 'classify', pass: 'backward' }],
  },
  {
    kernel: 'classification evaluation statistics',
    folder: 'classify',
    launcher: '`classificationStats` (metrics: `metricsFromStats`)',
    inputs: 'labels i32 [B] + predictions u32 [B] (single-label); logits and targets f32 [B, L] (multi-label, regression)',
    outputs: 'accumulated over an evaluation: confusion u32 [L, L] (atomics); tp/fp/fn u32 [3L] + exact-match rows; regression moments f32 [8] (pairwise merge)',
    saves: '— (evaluation only)',
    measured: [{ op: 'classify_stats', pass: 'forward' }],
  },
  {
    kernel: 'encoder embeddings',
    folder: 'embedding',
    launcher: '`encoderEmbeddingForward` (positions: `absolutePositionIds`, `robertaPositionIds`)',
    inputs: 'ids, positionIds, tokenTypeIds u32 [N]; W [V, C] (SplitWeight), Wpos [P, C], Wtype [TV, C] f32/f16',
    outputs: 'x [N, C] = (W[ids] + Wtype[types]) + Wpos[positions]',
    saves: '— (frozen, no backward)',
    measured: [{ op: 'encoder_embedding', pass: 'forward' }],
  },
  {
    kernel: 'matmul (linear layers; scalar, vec4 staged in workgroup memory, or vec4 direct — chooseMatmulVec4Tile)',
    folder: 'matmul',
    launcher: '`matmul`, `matmulXWt`, `matmulDyW`, `matmulDyTX`',
    inputs: 'A [M, K] f32; B [K, N] or [N, K] f32/f16; optional batch strides, alpha, beta',
    outputs: 'C [M, N] (= or += beta·C)',
    saves: '— (the caller keeps X for dW)',
    measured: [{ op: 'matmul', pass: 'forward' }],
    note: 'within atol 1e-4 + rtol 1e-4 (test/gpu/matmul.test.ts; errors not recorded)',
  },
  {
    kernel: 'LoRA linear forward',
    folder: 'lora',
    launcher: '`loraForward`',
    inputs: 'x [N, IN]; W [OUT, IN] f32/f16 (SplitWeight, split by output rows); bias [OUT]?; A [R, IN]; B [OUT, R]; s; dropout p + Philox key',
    outputs: 'y [N, OUT] = x·Wᵀ (+ b) + s·(drop(x)·Aᵀ)·Bᵀ (no adapter: plain linear)',
    saves: 'u = drop(x)·Aᵀ [N, R]; the mask is redrawn from the Philox key, never stored',
    measured: [{ op: 'lora', pass: 'forward' }],
  },
  {
    kernel: 'LoRA linear backward',
    folder: 'lora',
    launcher: '`loraBackward`',
    inputs: 'dy [N, OUT]; x; W; A; B; u; s; the same Philox key',
    outputs: 'dB += s·dyᵀ·u [OUT, R]; dA += duᵀ·drop(x) [R, IN]; dx (= or +=) dy·W + (du·A) ⊙ mask/(1−p) [N, IN]',
    saves: '—',
    measured: [{ op: 'lora', pass: 'backward' }],
  },
  {
    kernel: 'LM head + cross-entropy (fused, chunked)',
    folder: 'lmhead',
    launcher: '`lmheadLoss`, `lmheadLogits`',
    inputs: 'h [N, C]; W [V, C] f32/f16 (SplitWeight by vocab rows, e.g. the tied embedding); labels i32 [N] (−100 ignored); gradScale',
    outputs: 'rowLoss [N], lossSum [1] f32, targetCount [1] u32, dh [N, C]; logits only as [chunkRows, V] scratch, never [N, V]',
    saves: '— (dlogits computed in the same pass, chunk by chunk)',
    measured: [{ op: 'lmhead', pass: 'forward' }, { op: 'lmhead', pass: 'backward' }],
  },
  {
    kernel: 'weight quantization q8 / nf4',
    folder: 'quant',
    launcher: '`uploadQuantized` (streams chunks), `quantizeRows`',
    inputs: 'W [rows, cols] as raw F32/F16/BF16 bytes, one staged chunk of rows at a time',
    outputs: 'q8: int8 codes [rows, ⌈cols/4⌉ u32] + scale [rows] f32/f16 (absmax/127 per row); nf4: indices [rows, 8·⌈cols/64⌉ u32] + f16 absmax per block of 64 (QLoRA)',
    saves: '— (frozen)',
    measured: [],
    note: 'codes and scales bit-exact against quant.ref.ts on grid inputs (q8 ties to even, NF4 ties to the lower value)',
  },
  {
    kernel: 'LoRA linear forward, quantized W',
    folder: 'lora',
    launcher: '`loraForward` with a `QuantizedWeight`',
    inputs: 'as LoRA linear forward; W [OUT, IN] q8 / nf4, dequantized per tile into workgroup memory',
    outputs: 'y [N, OUT] (the products of the dequantized W)',
    saves: 'u [N, R]',
    measured: [{ op: 'lora quantized', pass: 'forward' }],
  },
  {
    kernel: 'LoRA linear backward, quantized W',
    folder: 'lora',
    launcher: '`loraBackward` with a `QuantizedWeight`',
    inputs: 'as LoRA linear backward; W q8 / nf4',
    outputs: 'dx = dy·W (+ LoRA part), dA, dB',
    saves: '—',
    measured: [{ op: 'lora quantized', pass: 'backward' }],
  },
  {
    kernel: 'LM head + cross-entropy, quantized W',
    folder: 'lmhead',
    launcher: '`lmheadLoss`, `lmheadLogits` with a `QuantizedWeight`',
    inputs: 'as the LM head; W [V, C] q8 / nf4 rows (e.g. the quantized tied embedding)',
    outputs: 'lossSum, targetCount, dh; logits',
    saves: '—',
    measured: [{ op: 'lmhead quantized', pass: 'forward' }, { op: 'lmhead quantized', pass: 'backward' }],
  },
  {
    kernel: 'embedding forward, quantized table',
    folder: 'embedding',
    launcher: '`embeddingForward` with a `QuantizedWeight`',
    inputs: 'ids [N]; W [V, C] q8 / nf4 rows',
    outputs: 'x [N, C] f32 = the dequantized rows',
    saves: '—',
    measured: [{ op: 'embedding quantized', pass: 'forward' }],
  },
  {
    kernel: 'philox dropout mask',
    folder: 'philox',
    launcher: 'library for the LoRA kernels',
    inputs: 'seed, site, step, token, feature',
    outputs: 'keep/drop bits (Philox4x32-10, bit-identical to philox.ts)',
    saves: '— (counter-based: the same mask is redrawn in backward and after a resume)',
    measured: [],
    note: 'bit-exact against the TS implementation',
  },
  {
    kernel: 'add (residual)',
    folder: 'elementwise',
    launcher: '`addForward`',
    inputs: 'a [count]; b [count]; alpha, beta; element offsets',
    outputs: 'out [count] = alpha·a + beta·b',
    saves: '— (backward passes dy through)',
    measured: [{ op: 'add', pass: 'forward' }],
  },
  {
    kernel: 'axpy (gradient accumulation)',
    folder: 'elementwise',
    launcher: '`axpy`',
    inputs: 'x [count]; y [count]; alpha, beta',
    outputs: 'y = beta·y + alpha·x in place',
    saves: '—',
    measured: [{ op: 'axpy', pass: 'backward' }],
  },
  {
    kernel: 'scale / fill / copy',
    folder: 'elementwise',
    launcher: '`scale`, `fill`, `copy`',
    inputs: 'x [count] (element offset)',
    outputs: 'x = s·x; x = value (never reads x); dst = src',
    saves: '—',
    measured: [{ op: 'scale', pass: 'forward' }, { op: 'fill', pass: 'forward' }],
  },
  {
    kernel: 'global grad norm + step control',
    folder: 'gradnorm',
    launcher: '`gradNormPartials`, `stepControl`, `globalGradNorm`',
    inputs: 'grads [P] (sums over tokens, chunked by binding); loss sum or per-token losses; token count (uniform or buffer); maxNorm',
    outputs: 'step control {gradNorm, clipScale, gradScale, finite, loss, tokenCount, flags} (32 bytes), read after the step',
    saves: '—',
    measured: [{ op: 'gradnorm', pass: 'step' }],
  },
  {
    kernel: 'AdamW',
    folder: 'adamw',
    launcher: '`adamwStep`, `optimizerStep` (grad norm + AdamW)',
    inputs: 'params, grads, m, v [P] flat f32; step control; lr, betas, eps 1e-8, weight decay, step t',
    outputs: 'params, m, v updated in place (untouched when the step control says not finite)',
    saves: '—',
    measured: [{ op: 'adamw', pass: 'step' }],
  },
];

interface Record {
  op: string;
  pass: Pass;
  shape: string;
  maxAbs: number | null;
  maxRel: number | null;
  adapter?: string;
}

export function readRecords(file: string): Record[] {
  if (!existsSync(file)) return [];
  const latest = new Map<string, Record>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    let r: Record;
    try {
      r = JSON.parse(line) as Record;
    } catch {
      continue; // a line cut short by a killed test run
    }
    latest.set(JSON.stringify([r.op, r.pass, r.shape, r.adapter ?? '']), r);
  }
  return [...latest.values()];
}

function fmt(x: number | null): string {
  // JSON turns Infinity into null.
  if (x === null || !Number.isFinite(x)) return '∞';
  return x === 0 ? '0' : x.toExponential(1);
}

export function errorCell(row: KernelRow, records: Record[]): string {
  const mine = records.filter((r) => row.measured.some((m) => m.op === r.op && m.pass === r.pass));
  if (mine.length === 0) return row.note ?? 'not measured yet (run its GPU test)';
  let abs = 0;
  let rel = 0;
  for (const r of mine) {
    abs = r.maxAbs === null ? Infinity : Math.max(abs, r.maxAbs);
    rel = r.maxRel === null ? Infinity : Math.max(rel, r.maxRel);
  }
  return `${fmt(abs)} abs / ${fmt(rel)} rel (${mine.length} case${mine.length === 1 ? '' : 's'})`;
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

export function renderKernelsDoc(records: Record[]): string {
  const adapters = [...new Set(records.map((r) => r.adapter).filter(Boolean))];
  const lines = [
    '# Kernels',
    '',
    'Hand-written WGSL kernels of a LoRA training step (src/engine/kernels/<op>/). Each has a float64',
    'CPU reference (`<op>.ref.ts`) whose backward is checked against central finite differences, and a',
    'GPU test comparing the kernel with the reference on several shapes. f32 compute and accumulation;',
    'frozen weights may be f16 on devices with shader-f16.',
    '',
    'Letters: N = B·T tokens, C hidden, NH / KVH query / kv heads, HS head size, I intermediate,',
    'V vocab, R LoRA rank, P trainable parameters (flat).',
    '',
    'The error column is the largest error over the test cases against the float64 reference',
    '(relative error is measured where |expected| > 1e-6), generated by `npm run docs:kernels` from',
    '`test-results/kernel-errors.jsonl`, which the GPU tests fill.',
    '',
    '| kernel | launcher | inputs | outputs | saves for backward | max error vs reference |',
    '|---|---|---|---|---|---|',
    ...KERNELS.map(
      (k) => `| ${cell(k.kernel)} (\`${k.folder}/\`) | ${cell(k.launcher)} | ${cell(k.inputs)} | ${cell(k.outputs)} | ${cell(k.saves)} | ${cell(errorCell(k, records))} |`,
    ),
    '',
    `Measured on: ${adapters.length ? adapters.join('; ') : 'no run recorded yet'}.`,
    '',
    '## Conventions',
    '',
    '- Activations are row-major per token (x [N, C], q [N, NH·HS], k/v [N, KVH·HS]); no transposes.',
    '- Launchers take a Recorder and named buffers; a whole training step records into one Recorder,',
    '  with readbacks only at its end (the step control buffer is the one thing read per step).',
    '- No binding exceeds maxStorageBufferBindingSize: the embedding / LM-head table is split by rows',
    '  (`SplitWeight`, `uploadSplitWeight`), the flat optimizer buffers are processed in binding-sized chunks.',
    '- Grids larger than maxComputeWorkgroupsPerDimension fold into 2-D (`grid1d`).',
    '- Recommended optimizer layout: all LoRA A/B tensors packed into one flat f32 buffer',
    '  (`planFlatLayout`, 256-byte aligned offsets) with flat grads, m and v at the same offsets:',
    '  the grad norm is two dispatches and AdamW one, whatever the number of tensors.',
    '',
    '## The step-control buffer',
    '',
    'Written on the GPU by `stepControl` (gradnorm.wgsl) after the backward pass, read by AdamW in the',
    'same submission, and read back by the caller once the step is done (`readStepControl`). 32 bytes:',
    '',
    '| word | field | meaning |',
    '|---|---|---|',
    '| 0 | gradNorm f32 | ‖Σ-grads / tokenCount‖₂ before clipping |',
    '| 1 | clipScale f32 | min(1, maxNorm / (gradNorm + 1e-6)); 1 when clipping is off |',
    '| 2 | gradScale f32 | clipScale / tokenCount: AdamW multiplies the raw gradient sums by it |',
    '| 3 | finite u32 | 1: the update was applied; 0: params, m and v were left untouched |',
    '| 4 | loss f32 | lossSum / tokenCount (mean loss of the step) |',
    '| 5 | tokenCount f32 | target tokens of the step (uniform, or a u32/f32 word of a buffer) |',
    '| 6 | flags u32 | bit 0 loss not finite, bit 1 gradient norm not finite, bit 2 no target tokens |',
    '| 7 | sumSq f32 | Σ grad² of the raw sums |',
    '',
    'A skipped step must not advance the AdamW step count t: pass t = applied steps + 1.',
    '',
  ];
  return lines.join('\n');
}

function main(): void {
  const root = process.cwd();
  const records = readRecords(join(root, 'test-results', 'kernel-errors.jsonl'));
  const out = join(root, 'docs', 'kernels.md');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, renderKernelsDoc(records));
  console.log(`wrote ${out} from ${records.length} measurements`);
}

if (process.argv[1] && /kernels-doc\.ts$/.test(process.argv[1])) main();
