import { describe, expect, it } from 'vitest';
import {
  adapterSlug, BenchUsageError, compare, fmt, formatTable, gflops, matmulFlops, median, parseArgs, repeatRuns, resultFileName, runTag, speedup,
  type Measurement,
} from '../../../bench/harness';
import { onnxMatmulModel, ProtoWriter } from '../../../bench/onnx';

function m(impl: Measurement['impl'], name: string, ms: number, flops?: number): Measurement {
  return { group: 'matmul', name, impl, ms, samples: [ms], timing: 'timestamp-query', flops };
}

describe('bench harness statistics', () => {
  it('median of odd and even counts, unsorted input left untouched', () => {
    const samples = [5, 1, 3];
    expect(median(samples)).toBe(3);
    expect(samples).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(() => median([])).toThrow(RangeError);
  });

  it('speedup is peer time over our time, undefined when a side is missing or not positive', () => {
    expect(speedup(2, 3)).toBe(1.5);
    expect(speedup(4, 2)).toBe(0.5);
    expect(speedup(undefined, 2)).toBeUndefined();
    expect(speedup(2, undefined)).toBeUndefined();
    expect(speedup(0, 2)).toBeUndefined();
    expect(speedup(2, Number.NaN)).toBeUndefined();
  });

  it('GFLOP/s of a matmul', () => {
    expect(matmulFlops(256, 576, 576)).toBe(2 * 256 * 576 * 576);
    expect(gflops(2e9, 1000)).toBe(2); // 2 GFLOP in one second
    expect(gflops(matmulFlops(512, 1536, 576), 100)).toBeCloseTo(9.06, 2);
  });

  it('repeatRuns warms up unmeasured, then stops at repeats or once the time budget is spent (keeping at least 3)', async () => {
    const calls: number[] = [];
    const runs = (times: number[]) => {
      let i = 0;
      return async () => {
        calls.push(i);
        return times[i++];
      };
    };
    expect(await repeatRuns(runs([99, 1, 2, 3, 4, 5, 6]), { repeats: 5, maxCaseSeconds: 100 })).toEqual([1, 2, 3, 4, 5]);
    expect(await repeatRuns(runs([99, 2000, 2000, 2000, 2000]), { repeats: 5, maxCaseSeconds: 1 })).toEqual([2000, 2000, 2000]);
    expect(await repeatRuns(runs([9, 9, 7, 8]), { repeats: 2, maxCaseSeconds: 0, warmup: 2 })).toEqual([7, 8]);
    expect(calls.length).toBe(6 + 4 + 4);
  });
});

describe('bench harness table and files', () => {
  it('fmt keeps three significant digits and marks missing values', () => {
    expect(fmt(0.046321)).toBe('0.0463');
    expect(fmt(3665.95)).toBe('3666');
    expect(fmt(12.345)).toBe('12.3');
    expect(fmt(undefined)).toBe('—');
    expect(fmt(Number.POSITIVE_INFINITY)).toBe('—');
    expect(fmt(1.5, 2)).toBe('1.5');
  });

  it('compare lines ours and the peers up per case and computes ours/peer', () => {
    const rows = compare([m('ours', 'a', 2, 4e6), m('tfjs', 'a', 3, 4e6), m('ort-web', 'a', 1, 4e6), m('ours', 'b', 5)]);
    expect(rows).toHaveLength(2);
    expect(rows[0].ratio).toEqual({ tfjs: 1.5, 'ort-web': 0.5 });
    expect(rows[0].gflops.ours).toBeCloseTo(2, 9);
    expect(rows[1].ratio).toEqual({});
  });

  it('formatTable prints a markdown table with a column pair per implementation and the ratios', () => {
    const table = formatTable([m('ours', 'q 256', 100, 2e9), m('tfjs', 'q 256', 150, 2e9), m('ours', 'up 512', 40)]);
    const lines = table.split('\n');
    expect(lines[0]).toBe('| group | case | ours ms | ours GFLOP/s | TF.js ms | TF.js GFLOP/s | ours/TF.js |');
    expect(lines[1]).toBe('|---|---|---:|---:|---:|---:|---:|');
    expect(lines[2]).toBe('| matmul | q 256 | 100 | 20 | 150 | 13.3 | 1.5× |');
    expect(lines[3]).toBe('| matmul | up 512 | 40 | — | — | — | — |');
    expect(lines).toHaveLength(4);
  });

  it('result files are bench/results/<UTC date>-<adapter slug>.json', () => {
    const date = new Date('2026-11-25T23:59:00-02:00'); // already the 26th in UTC
    expect(resultFileName(date, 'google swiftshader (SwiftShader driver 5.0.0)')).toBe(
      'bench/results/2026-11-26-google-swiftshader-swiftshader-driver-5-0-0.json',
    );
    expect(resultFileName(date, 'NVIDIA GeForce RTX 4090', 'out')).toBe('out/2026-11-26-nvidia-geforce-rtx-4090.json');
    expect(adapterSlug('mesa software (llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1)')).toMatch(/^[a-z0-9-]{1,48}$/);
    expect(adapterSlug('???')).toBe('unknown-adapter');
    expect(resultFileName(date, 'lavapipe', 'bench/results', 'quick-kernels')).toBe('bench/results/2026-11-26-lavapipe-quick-kernels.json');
  });

  it('partial runs are tagged so they never overwrite the full run', () => {
    expect(runTag(parseArgs([]))).toBe('');
    expect(runTag(parseArgs(['--quick']))).toBe('quick');
    expect(runTag(parseArgs(['--only', 'kernels']))).toBe('kernels');
    expect(runTag(parseArgs(['--quick', '--only', 'matmul,lora-step']))).toBe('quick-matmul-lora-step');
    expect(runTag(parseArgs(['--data']))).toBe('');
    expect(runTag(parseArgs(['--only', 'e2e', '--layers', '30']))).toBe('e2e-30layers');
  });
});

describe('bench command line', () => {
  it('defaults: every group but data, both peers, 5 repeats', () => {
    const o = parseArgs([]);
    expect(o.quick).toBe(false);
    expect(o.only).toEqual(['matmul', 'lora-step', 'kernels', 'quant', 'e2e', 'shapes', 'first-step']);
    expect(o.peers).toEqual(['tfjs', 'ort-web']);
    expect(o.repeats).toBe(5);
  });

  it('--quick, --only, --data, --no-ort, --repeats', () => {
    const o = parseArgs(['--quick', '--only', 'matmul,lora-step', '--data', '--no-ort']);
    expect(o.quick).toBe(true);
    expect(o.repeats).toBe(3);
    expect(o.only).toEqual(['matmul', 'lora-step', 'data']);
    expect(o.peers).toEqual(['tfjs']);
    expect(parseArgs(['--repeats', '9']).repeats).toBe(9);
  });

  it('rejects unknown groups and arguments with the usage', () => {
    expect(() => parseArgs(['--only', 'nope'])).toThrow(BenchUsageError);
    expect(() => parseArgs(['--only', 'nope'])).toThrow(/unknown group "nope"/);
    expect(() => parseArgs(['--fast'])).toThrow(/unknown argument "--fast"/);
    expect(() => parseArgs(['--repeats', '0'])).toThrow(/positive integer/);
    expect(() => parseArgs(['--only'])).toThrow(/needs a value/);
  });
});

describe('ONNX MatMul graph bytes', () => {
  it('varints follow the protobuf encoding', () => {
    expect(Array.from(new ProtoWriter().varint(1).finish())).toEqual([1]);
    expect(Array.from(new ProtoWriter().varint(300).finish())).toEqual([0xac, 0x02]);
    expect(Array.from(new ProtoWriter().int(1, 8).finish())).toEqual([0x08, 0x08]);
    expect(Array.from(new ProtoWriter().string(2, 'ab').finish())).toEqual([0x12, 2, 0x61, 0x62]);
  });

  it('a Gemm with transB names its inputs, output, attributes and dims', () => {
    const bytes = onnxMatmulModel({ M: 256, N: 576, K: 1536, transB: true });
    const text = new TextDecoder('latin1').decode(bytes);
    expect(bytes[0]).toBe(0x08); // ir_version field first
    expect(bytes[1]).toBe(8);
    for (const s of ['Gemm', 'transA', 'transB', 'adapter-studio-bench']) expect(text).toContain(s);
    // dim 1536 as a varint (0x80 0x0c) appears inside the shapes
    expect(Buffer.from(bytes).includes(Buffer.from([0x08, 0x80, 0x0c]))).toBe(true);
    const plain = new TextDecoder('latin1').decode(onnxMatmulModel({ M: 4, N: 4, K: 4 }));
    expect(plain).toContain('MatMul');
    expect(plain).not.toContain('Gemm');
  });
});

describe('our kernel as the Chromium page runs it', () => {
  it('is the WGSL this adapter would compile: register block written out on SwiftShader, loops elsewhere', async () => {
    const { captureMatmulDispatch } = await import('../../../bench/peers/ort');
    const { matmulCase, SMOLLM2_135M } = await import('../../../bench/shapes');
    const c = matmulCase(SMOLLM2_135M, 'q', 256, 'fwd X·Wᵀ');
    const adapter = (unrollInSource: boolean) => ({ unrollInSource, limits: { maxComputeInvocationsPerWorkgroup: 256 } }) as never;
    const swiftshader = captureMatmulDispatch(c, adapter(true));
    expect(swiftshader.code).not.toMatch(/\/\/ @unroll\n/);
    expect(swiftshader.code).toContain('acc[15u * TN4 + 3u]'); // the 16×16 block, indexed by constants
    const other = captureMatmulDispatch(c, adapter(false));
    expect(other.code).toMatch(/\/\/ @unroll\n/);
    expect(other.workgroups).toEqual([576 / 64, 256 / 64, 1]);
  });
});
