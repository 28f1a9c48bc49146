import { describe, expect, it } from 'vitest';
import { wgslSections } from '../../../src/engine/kernels/elementwise/sections';
import { rmsnormBackwardKernel, rmsnormForwardKernel } from '../../../src/engine/kernels/rmsnorm/rmsnorm';

describe('wgslSections', () => {
  it('keeps the named sections, blanks the others, and keeps line numbers', () => {
    const src = ['common', '#if A', 'a line', '#endif', '#if B', 'b line', '#endif', 'tail'].join('\n');
    const a = wgslSections(src, ['A']);
    expect(a.split('\n')).toEqual(['common', '', 'a line', '', '', '', '', 'tail']);
    expect(wgslSections(src, ['B'])).toContain('b line');
    expect(wgslSections(src, ['B'])).not.toContain('a line');
  });

  it('refuses nested, unclosed and unopened sections with the line', () => {
    expect(() => wgslSections('#if A\n#if B\n#endif\n#endif', ['A'], 'x.wgsl')).toThrow(/x.wgsl:2: nested/);
    expect(() => wgslSections('#if A\n', ['A'], 'x.wgsl')).toThrow(/never closed/);
    expect(() => wgslSections('#endif', [], 'x.wgsl')).toThrow(/x.wgsl:1: #endif without #if/);
  });

  it('the rmsnorm entry points each declare only their own bindings', () => {
    expect(rmsnormForwardKernel.source).toContain('var<storage, read_write> rrms');
    expect(rmsnormForwardKernel.source).not.toContain('var<storage, read> dy');
    expect(rmsnormBackwardKernel.source).toContain('var<storage, read> dy');
    expect(rmsnormBackwardKernel.source).not.toMatch(/#if|#endif/);
  });
});
