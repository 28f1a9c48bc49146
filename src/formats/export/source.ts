/**
 * The model an export reads, from a model folder wherever it lives (a Node folder, dropped browser
 * files, the served demo, the hub) and an optional PEFT adapter: its spec, config.json, the text
 * files that travel with it, and a weight reader that merges the adapter in (merge.ts) and refuses
 * a non-finite tensor by name. The CLI's `export` and the studio's "Export for…" both open their
 * source here.
 */
import { openModelFolder, requireDecoder, type DecoderFolder, type ModelFiles } from '../modelFolder';
import { firstNonFinite } from '../peft';
import { mergedWeights, type LoraAdapter } from './merge';
import { ExportError, type SourceModel } from './types';

/** The files besides config.json and the weights that an exported model carries when the source has them. */
export const MODEL_TEXT_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'chat_template.jinja'] as const;

export interface OpenedSource {
  folder: DecoderFolder;
  /** The base model as it is (for a GGUF base beside a GGUF adapter). */
  base: SourceModel;
  /** The base with the adapter merged in (the base itself without an adapter). */
  merged: SourceModel;
}

/**
 * Opens `files` as an export source. Every tensor read is checked: a non-finite base tensor or a
 * merged one that overflows is an ExportError naming the tensor, raised before anything is written.
 */
export async function openExportSource(files: ModelFiles, adapter: LoraAdapter | null): Promise<OpenedSource> {
  const folder = requireDecoder(await openModelFolder(files), 'this export (the encoder exports are not written yet)');
  const textFiles = new Map<string, string>();
  for (const f of MODEL_TEXT_FILES) {
    const text = await files.text(f);
    if (text !== null) textFiles.set(f, text);
  }
  const base = async (name: string) => {
    const values = await folder.readTensorF32(name);
    const bad = firstNonFinite(values);
    if (bad) throw new ExportError(`${files.name}: tensor "${name}" holds ${bad}: refusing to export a non-finite model`);
    return values;
  };
  const mergedReader = mergedWeights(folder.spec, base, adapter);
  const merged = async (name: string) => {
    const values = await mergedReader(name);
    const bad = firstNonFinite(values);
    if (bad) throw new ExportError(`merged tensor "${name}" would hold ${bad}: the adapter overflows the model; nothing was written`);
    return values;
  };
  const common = { spec: folder.spec, config: folder.config, textFiles };
  return { folder, base: { ...common, weights: base }, merged: { ...common, weights: adapter ? merged : base } };
}
