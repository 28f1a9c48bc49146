import { describe, expect, it } from 'vitest';
import { defaultCompileHelpers } from '../../../src/engine/gpu/node';

describe('defaultCompileHelpers', () => {
  it('gives one compile helper per core beyond the first, at most three', () => {
    expect(defaultCompileHelpers({}, 1)).toBe(0);
    expect(defaultCompileHelpers({}, 2)).toBe(1);
    expect(defaultCompileHelpers({}, 4)).toBe(3);
    expect(defaultCompileHelpers({}, 64)).toBe(3);
  });
  it('gives none when Mesa\'s shader cache is off, since the helpers hand their work over through it', () => {
    for (const value of ['true', '1', 'TRUE', 'yes']) expect(defaultCompileHelpers({ MESA_SHADER_CACHE_DISABLE: value }, 8)).toBe(0);
    expect(defaultCompileHelpers({ MESA_SHADER_CACHE_DISABLE: 'false' }, 8)).toBe(3);
  });
});
