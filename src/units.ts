// Sizes as people read them, the same in the engine's plans, the CLI, storage errors and the page:
// binary multiples with their IEC names (a GPU's 2 GiB is 2 × 1024³ bytes, as the planner counts).

/** `bytes` as "512 B", "1.5 KiB", "437.2 MiB", "2.6 GiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}
