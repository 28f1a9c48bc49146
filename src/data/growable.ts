// Typed arrays that grow as examples are appended (the token stores of batches.ts and classify.ts).

type Growable = Uint8Array | Uint16Array | Int32Array | Uint32Array | Float64Array;

/** `a` itself when it holds `need` elements, else a copy twice as large (or `need`) with its first `keep` elements. */
export function withRoom<T extends Growable>(a: T, need: number, keep: number = a.length): T {
  if (need <= a.length) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(need, a.length * 2));
  b.set(a.subarray(0, keep) as never);
  return b;
}
