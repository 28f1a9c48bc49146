// The worker's dataset step: the studio's dropped file through src/data's one preparation (readers, detection,
// rendering with the model's tokenizer, split, report). Kept as a thin adapter so api.ts keeps its call.
import { prepareDataset, type PreparedDataset } from '../data/dataset';
import { fromBlob } from '../data/source';
import type { Tokenizer } from '../data/tokenize';
import type { ColumnMapping } from '../data/schema';
import type { Objective } from '../data/detect';
import type { TaskSetting } from '../settings/settings';

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
  /** What the model learns: an encoder reads text + label rows as classification data. */
  objective?: Objective;
  /** Classification: the task setting (auto: the data layer detects it from the labels). */
  task?: TaskSetting;
}

const DATA_TASK = { classification: 'single_label', regression: 'regression', 'multi-label': 'multi_label' } as const;

export async function readDataset(args: ReadDatasetArgs): Promise<PreparedDataset> {
  // A task chosen by hand goes into a classification mapping (the data layer resolves the labels with it).
  const forced = args.task && args.task !== 'auto' ? DATA_TASK[args.task] : undefined;
  const mapping = args.mapping?.kind === 'classification' && forced ? { ...args.mapping, task: forced } : args.mapping;
  return prepareDataset(fromBlob(args.file, args.name), args.tokenizer, {
    objective: args.objective,
    mapping: mapping ?? undefined,
    maxLength: args.maxLength,
    seed: args.seed,
    signal: args.signal,
    validation: STUDIO_VALIDATION,
    onProgress: args.onProgress ? (p) => args.onProgress!(p.rows) : undefined,
  });
}
