// Asks the browser to keep the studio's storage (not evict it under pressure) and reports usage.
export async function requestPersistence(): Promise<boolean | null> {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (!storage?.persist) return null;
  try {
    if (await storage.persisted()) return true;
    return await storage.persist();
  } catch {
    return null;
  }
}

export async function storageEstimate(): Promise<{ usage: number | null; quota: number | null }> {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (!storage?.estimate) return { usage: null, quota: null };
  const e = await storage.estimate();
  return { usage: e.usage ?? null, quota: e.quota ?? null };
}
