import { GpuError } from '../../gpu/errors';

/**
 * Keeps the `#if NAME` … `#endif` sections of a WGSL file whose NAME is in `keep` and drops the
 * others, so one file can hold a forward and a backward entry point that bind different buffers
 * (pipelines use layout 'auto', where every declared binding must be used). `#if A || B` keeps a
 * section shared by several entry points. Sections do not nest.
 */
export function wgslSections(source: string, keep: string[], file = 'wgsl'): string {
  const out: string[] = [];
  let current: string | null = null;
  let names: string[] = [];
  source.split('\n').forEach((line, i) => {
    const open = /^#if\s+(\w+(?:\s*\|\|\s*\w+)*)\s*$/.exec(line.trim());
    if (open) {
      if (current !== null) throw new GpuError(`${file}:${i + 1}: nested #if ${open[1]} inside #if ${current}`);
      current = open[1];
      names = open[1].split('||').map((n) => n.trim());
      out.push('');
      return;
    }
    if (line.trim() === '#endif') {
      if (current === null) throw new GpuError(`${file}:${i + 1}: #endif without #if`);
      current = null;
      out.push('');
      return;
    }
    // Blank lines keep the compiler's line numbers equal to the file's.
    out.push(current === null || names.some((n) => keep.includes(n)) ? line : '');
  });
  if (current !== null) throw new GpuError(`${file}: #if ${current} is never closed`);
  return out.join('\n');
}
