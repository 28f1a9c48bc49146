/**
 * Builds the bytes of a WGSL uniform struct whose fields are all 4-byte scalars, in declaration
 * order: `new Uniforms().u32(M).u32(K).f32(scale).bytes()`. Padded to 16 bytes as WGSL requires.
 */
export class Uniforms {
  private words: number[] = [];
  private kinds: ('u32' | 'i32' | 'f32')[] = [];

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`u32 uniform out of range: ${value}`);
    this.words.push(value);
    this.kinds.push('u32');
    return this;
  }

  i32(value: number): this {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw new RangeError(`i32 uniform out of range: ${value}`);
    this.words.push(value);
    this.kinds.push('i32');
    return this;
  }

  f32(value: number): this {
    this.words.push(value);
    this.kinds.push('f32');
    return this;
  }

  bytes(): ArrayBuffer {
    const length = Math.max(4, Math.ceil(this.words.length / 4) * 4);
    const buffer = new ArrayBuffer(length * 4);
    const view = new DataView(buffer);
    this.words.forEach((value, i) => {
      const kind = this.kinds[i];
      if (kind === 'f32') view.setFloat32(i * 4, value, true);
      else if (kind === 'i32') view.setInt32(i * 4, value, true);
      else view.setUint32(i * 4, value, true);
    });
    return buffer;
  }
}
