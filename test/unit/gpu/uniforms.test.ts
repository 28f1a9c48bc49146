import { describe, expect, it } from 'vitest';
import { Uniforms } from '../../../src/engine/gpu/uniforms';
import { evalConstExpr, pipelineKey, specialize, unrollLoops } from '../../../src/engine/gpu/pipelines';
import { GpuError } from '../../../src/engine/gpu/errors';
import { describeAdapter } from '../../../src/engine/gpu/device';
import { chooseVulkanDriver } from '../../../src/engine/gpu/node';

describe('uniform packing', () => {
  it('packs u32, i32 and f32 little-endian in order and pads to 16 bytes', () => {
    const bytes = new Uniforms().u32(7).i32(-3).f32(0.5).u32(0xffffffff).f32(-2).bytes();
    expect(bytes.byteLength).toBe(32);
    const view = new DataView(bytes);
    expect(view.getUint32(0, true)).toBe(7);
    expect(view.getInt32(4, true)).toBe(-3);
    expect(view.getFloat32(8, true)).toBe(0.5);
    expect(view.getUint32(12, true)).toBe(0xffffffff);
    expect(view.getFloat32(16, true)).toBe(-2);
  });

  it('refuses values that do not fit their type', () => {
    expect(() => new Uniforms().u32(-1)).toThrow(RangeError);
    expect(() => new Uniforms().u32(1.5)).toThrow(RangeError);
    expect(() => new Uniforms().i32(2 ** 31)).toThrow(RangeError);
  });
});

describe('kernel specialization', () => {
  const kernel = { name: 'demo', source: 'const T = {{TILE}}u; const F = {{FLAG}}; alias W = {{W_TYPE}};' };

  it('substitutes every placeholder', () => {
    expect(specialize(kernel, { TILE: 16, FLAG: true, W_TYPE: 'f16' })).toBe('const T = 16u; const F = true; alias W = f16;');
  });

  it('names the kernel and the constant when one is missing', () => {
    expect(() => specialize(kernel, { TILE: 16 })).toThrow(GpuError);
    expect(() => specialize(kernel, { TILE: 16 })).toThrow(/kernel "demo".*\{\{FLAG\}\}/);
  });

  it('writes out @unroll loops, nested, with the bound from a const, each copy in its own scope', () => {
    const code = [
      'const DV = {{DV}}u;',
      'fn f() {',
      '  // @unroll',
      '  for (var i = 0u; i < DV; i++) {',
      '    let xi = a[i];',
      '    // @unroll',
      '    for (var j = 0u; j < 2u; j++) { acc[i * 2u + j] += xi * b[j]; }',
      '  }',
      '  for (var k = 0u; k < DV; k++) { c[k] = 0.0; }',
      '}',
    ].join('\n');
    const out = specialize({ name: 'u', source: code }, { DV: 2 }, { unroll: true });
    expect(specialize({ name: 'u', source: code }, { DV: 2 })).toContain('@unroll'); // left to the driver's compiler
    expect(out).not.toContain('@unroll');
    expect(out).toContain('for (var k = 0u; k < DV; k++)'); // unmarked loops stay
    expect(out.match(/let xi = a\[\du\];/g)).toEqual(['let xi = a[0u];', 'let xi = a[1u];']);
    expect(out.match(/acc\[[^\]]*\]/g)).toEqual(['acc[0u * 2u + 0u]', 'acc[0u * 2u + 1u]', 'acc[1u * 2u + 0u]', 'acc[1u * 2u + 1u]']);
    expect(out.match(/\{/g)?.length).toBe(out.match(/\}/g)?.length);
  });

  it('evaluates integer const expressions as u32 arithmetic, and nothing else', () => {
    const consts = new Map([['TM', 16], ['TN', 8]]);
    expect(evalConstExpr('TM * (TN / 4u)', consts)).toBe(32);
    expect(evalConstExpr('TN / 3u + 1u - 2', consts)).toBe(1);
    expect(evalConstExpr('3.0e38', consts)).toBeUndefined();
    expect(evalConstExpr('TM * X', consts)).toBeUndefined();
    expect(evalConstExpr('TM / 0u', consts)).toBeUndefined();
    expect(evalConstExpr('max(TM, 2u)', consts)).toBeUndefined();
  });

  it('takes an @unroll bound written as an expression of consts', () => {
    const code = 'const TN = 8u;\nconst TN4 = TN / 4u;\n// @unroll\nfor (var j = 0u; j < 2u * TN4; j++) { s += v[j]; }';
    expect(unrollLoops(code).match(/v\[\du\]/g)).toEqual(['v[0u]', 'v[1u]', 'v[2u]', 'v[3u]']);
  });

  it('refuses an @unroll loop whose bound is not a compile-time integer', () => {
    expect(() => unrollLoops('// @unroll\nfor (var i = 0u; i < p.n; i++) { }', 'bad')).toThrow(/kernel "bad"/);
    expect(() => unrollLoops('// @unroll\nfor (var i = 0u; i < N; i++) { }', 'bad')).toThrow(/bound N/);
  });

  it('keys pipelines by name, entry point and sorted constants', () => {
    expect(pipelineKey(kernel, { b: 2, a: 1 }, 'main')).toBe(pipelineKey(kernel, { a: 1, b: 2 }, 'main'));
    expect(pipelineKey(kernel, { a: 1 }, 'main')).not.toBe(pipelineKey(kernel, { a: 2 }, 'main'));
    expect(pipelineKey(kernel, { a: 1 }, 'main')).not.toBe(pipelineKey(kernel, { a: 1 }, 'backward'));
  });
});

describe('adapter description', () => {
  it('builds a readable name from adapter info', () => {
    const d = describeAdapter({ vendor: 'google', architecture: 'swiftshader', device: 'x', description: 'SwiftShader driver 5.0.0' } as GPUAdapterInfo);
    expect(d.name).toBe('google swiftshader (SwiftShader driver 5.0.0)');
    expect(describeAdapter(undefined).name).toBe('unknown vendor');
  });
});

describe('Vulkan driver choice in Node', () => {
  it('keeps a VK_ICD_FILENAMES the user set', () => {
    const env: NodeJS.ProcessEnv = { VK_ICD_FILENAMES: '/x/icd.json' };
    expect(chooseVulkanDriver(env)).toBe('VK_ICD_FILENAMES=/x/icd.json');
    expect(env.VK_ICD_FILENAMES).toBe('/x/icd.json');
  });

  it('honours ADAPTER_STUDIO_ICD and rejects unknown names', () => {
    expect(chooseVulkanDriver({ ADAPTER_STUDIO_ICD: 'system' })).toBe('system');
    expect(() => chooseVulkanDriver({ ADAPTER_STUDIO_ICD: 'bogus' })).toThrow(/bogus/);
  });
});
