import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { memoryFiles, type ModelFiles } from '../../src/formats/modelFolder';

/** A model folder on disk read whole into memory under `name` (what the studio holds after a load): safetensors as bytes, the rest as text. */
export function folderFiles(dir: string, name: string): ModelFiles {
  return memoryFiles(new Map(readdirSync(dir).map((f) => [f, f.endsWith('.safetensors') ? new Uint8Array(readFileSync(join(dir, f))) : readFileSync(join(dir, f), 'utf8')])), name);
}
