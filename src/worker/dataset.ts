// The worker's dataset step: the studio's dropped file through src/data's one preparation (readers, detection,
// rendering with the model's tokenizer, split, report). Kept as a thin adapter so api.ts keeps its call.
import { prepareDataset, type PreparedDataset } from '../data/dataset';
import { fromBlob } from '../data/source';
import type { Tokenizer } from '../data/tokenize';
import type { ColumnMapping } from '../data/schema';

export type { PreparedDataset } from '../data/dataset';

/** The studio holds out 10% for validation once a file has 20 examples (stratified by class for classification). */
export const STUDIO_VALIDATION = { fraction: 0.1, minRows: 20 } as const;

export interface ReadDatasetArgs {
  file: Blob & { name?: string };
  name: string;
  tokenizer: Tokenizer | null;
  mapping: ColumnMapping | null;
  maxLength: number;
  seed: number;
  signal: AbortSignal;
  onProgress?: (rows: number) => void;
}

export async function readDataset(args: ReadDatasetArgs): Promise<PreparedDataset> {
  return prepareDataset(fromBlob(args.file, args.name), args.tokenizer, {
    mapping: args.mapping ?? undefined,
    maxLength: args.maxLength,
    seed: args.seed,
    signal: args.signal,
    validation: STUDIO_VALIDATION,
    onProgress: args.onProgress ? (p) => args.onProgress!(p.rows) : undefined,
  });
}
