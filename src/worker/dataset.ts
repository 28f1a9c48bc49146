// The worker's dataset step: the studio's dropped file through src/data's one preparation (readers, detection,
// rendering with the model's tokenizer, split, report), with the run's data settings.
import { prepareDataset, type PreparedDataset } from '../data/dataset';
import { fromBlob } from '../data/source';
import type { Tokenizer } from '../data/tokenize';
import type { ColumnMapping } from '../data/schema';
import type { Objective } from '../data/detect';
import type { BadRows, TaskSetting, TrainOn } from '../settings/settings';

export type { PreparedDataset } from '../data/dataset';

/** A held-out fraction needs at least this many examples (a smaller file trains on everything). */
const MIN_VALIDATION_ROWS = 20;

export interface ReadDatasetArgs {
  file: Blob & { name?: string };
  name: string;
  tokenizer: Tokenizer | null;
  mapping: ColumnMapping | null;
  maxLength: number;
  seed: number;
  trainOn?: TrainOn;
  onBadRows: BadRows;
  /** The settings' data.validationFraction (ignored when a validation file is given). */
  validationFraction: number;
  validationFile: { file: Blob; name: string } | null;
  /** Model vocabulary, so tokens are stored in 16 bits when they fit. */
  vocabSize?: number;
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
    trainOn: args.trainOn,
    onBadRows: args.onBadRows,
    vocabSize: args.vocabSize,
    signal: args.signal,
    validation: args.validationFile
      ? { source: fromBlob(args.validationFile.file, args.validationFile.name) }
      : args.validationFraction > 0 ? { fraction: args.validationFraction, minRows: MIN_VALIDATION_ROWS } : undefined,
    onProgress: args.onProgress ? (p) => args.onProgress!(p.rows) : undefined,
  });
}
