/**
 * Random checkpoints of real model shapes written to disk as a Hugging Face repository ships them:
 * config.json, BF16 (or F32) weights in model-0000i-of-0000n.safetensors shards and
 * model.safetensors.index.json. Tensors are generated and written a chunk at a time, so even a
 * Llama-3.2-1B embedding (128256 × 2048) never sits whole in memory. Node only (node:fs), like
 * nodeSource.ts. Deterministic: the same config, seed and options give the same bytes.
 */
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromF32 } from './dtype';
import { tensorValues } from './generate';
import { parseHfConfig, type ModelSpec } from './hfConfig';
import { INDEX_FILE } from './modelFolder';
import { safetensorsHeader, type TensorEntry } from './safetensors';
import { expectedTensors, type TensorKind } from './weightMap';

export interface RandomCheckpointOptions {
  seed?: number;
  /** Stored dtype (default BF16, as the hub ships these models). */
  dtype?: 'BF16' | 'F32';
  /** Data bytes per shard at most (HF's max_shard_size; a larger tensor gets a shard of its own). Default 256 MiB. */
  maxShardBytes?: number;
  /** Values generated per write (default 1 Mi; tests make it small to cross chunk boundaries). */
  chunkValues?: number;
}

export interface CheckpointOnDisk {
  dir: string;
  spec: ModelSpec;
  shards: string[];
  /** Bytes of tensor data in all shards. */
  dataBytes: number;
  /** False when an identical checkpoint was already there (nothing written). */
  written: boolean;
}

/**
 * Writes a random checkpoint of `config` (its num_hidden_layers as given) into `dir`. A stamp
 * beside the folder (`<dir>.stamp`) records what was written; an identical request finds it and
 * writes nothing.
 */
export async function writeRandomCheckpoint(dir: string, config: Record<string, unknown>, options: RandomCheckpointOptions = {}): Promise<CheckpointOnDisk> {
  const seed = options.seed ?? 1;
  const dtype = options.dtype ?? 'BF16';
  const maxShardBytes = options.maxShardBytes ?? 256 << 20;
  const spec = parseHfConfig(config, `${dir}/config.json`);
  const std = typeof config.initializer_range === 'number' ? config.initializer_range : 0.02;
  const tensors = expectedTensors(spec);
  const bytesPer = dtype === 'BF16' ? 2 : 4;
  // Shards in module order, as save_pretrained fills them.
  const groups: (typeof tensors)[] = [];
  let current: typeof tensors = [];
  let bytes = 0;
  for (const t of tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1) * bytesPer;
    if (current.length && bytes + size > maxShardBytes) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(t);
    bytes += size;
  }
  if (current.length) groups.push(current);
  const shards = groups.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(groups.length).padStart(5, '0')}.safetensors`);
  const stamp = JSON.stringify({ config, seed, dtype, maxShardBytes, shards });
  const stampFile = `${dir.replace(/\/+$/, '')}.stamp`;
  const dataBytes = tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1) * bytesPer, 0);
  if ((await readFile(stampFile, 'utf8').catch(() => null)) === stamp) return { dir, spec, shards, dataBytes, written: false };

  await rm(stampFile, { force: true });
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const kinds = new Map<string, TensorKind>(tensors.map((t) => [t.name, t.kind]));
  const weightMap: Record<string, string> = {};
  for (const [i, group] of groups.entries()) {
    const entries: TensorEntry[] = group.map((t) => ({ name: t.name, dtype, shape: t.shape }));
    const { prefix, order } = safetensorsHeader(entries, { format: 'pt' });
    const file = await open(join(dir, shards[i]), 'w');
    try {
      await file.write(prefix);
      for (const e of order) {
        const fill = tensorValues(e.name, kinds.get(e.name)!, seed, std);
        const n = e.shape.reduce((a, b) => a * b, 1);
        const chunk = new Float32Array(Math.min(options.chunkValues ?? 1 << 20, n));
        for (let done = 0; done < n; done += chunk.length) {
          const part = done + chunk.length <= n ? chunk : chunk.subarray(0, n - done);
          fill(part);
          await file.write(fromF32(dtype, part));
        }
        weightMap[e.name] = shards[i];
      }
    } finally {
      await file.close();
    }
  }
  const sorted = Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  await writeFile(join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: dataBytes }, weight_map: sorted }, null, 2) + '\n');
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  await writeFile(stampFile, stamp);
  return { dir, spec, shards, dataBytes, written: true };
}
