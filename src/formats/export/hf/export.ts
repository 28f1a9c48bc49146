/**
 * The merged model as a Hugging Face checkpoint folder (what `--format hf` writes): config.json,
 * generation_config.json, tokenizer files, and model.safetensors — or, past `maxShardBytes`,
 * model-0000i-of-0000n.safetensors shards with model.safetensors.index.json as
 * transformers' save_pretrained writes them. Loads in transformers (AutoModelForCausalLM), in
 * llama.cpp's convert_hf_to_gguf.py, MLX and vLLM like any checkpoint, without PEFT.
 *
 * An encoder classifier is written as Transformers saves a …ForSequenceClassification model:
 * canonical tensor names (LayerNorm .weight/.bias, the model prefix), the head, no pre-training
 * heads, and config.json with architectures, id2label, label2id and problem_type
 * (AutoModelForSequenceClassification.from_pretrained(folder)).
 */
import { fromF32 } from '../../dtype';
import { serializeSafetensors, type TensorToWrite } from '../../safetensors';
import { expectedTensors } from '../../weightMap';
import { encoderHeadTensors, expectedEncoderTensors } from '../../encoderConfig';
import { ExportError, isEncoderSource, textPart, type AnySourceModel, type ExportedFiles, type ProgressCallback } from '../types';

export interface HfExportOptions {
  /** Stored dtype (default: BF16 when config.json's torch_dtype is bfloat16, F16 for float16, else F32). */
  dtype?: 'F32' | 'BF16' | 'F16';
  /** Largest shard's tensor bytes (default 2 GB, so each file stays one buffer in a browser). */
  maxShardBytes?: number;
  onProgress?: ProgressCallback;
}

const TORCH_DTYPE = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' } as const;

export async function exportHf(model: AnySourceModel, options: HfExportOptions = {}): Promise<ExportedFiles> {
  const torchDtype = isEncoderSource(model) ? model.config.torch_dtype : model.spec.torchDtype;
  const dtype = options.dtype ?? (torchDtype === 'bfloat16' ? 'BF16' : torchDtype === 'float16' ? 'F16' : 'F32');
  const maxShard = options.maxShardBytes ?? 2_000_000_000;
  const list = isEncoderSource(model) ? [...expectedEncoderTensors(model.spec), ...encoderHeadTensors(model.spec, model.spec.numLabels)] : expectedTensors(model.spec);
  const shards: Map<string, TensorToWrite>[] = [new Map()];
  let shardBytes = 0;
  for (const [i, t] of list.entries()) {
    options.onProgress?.({ stage: t.name, done: i, total: list.length });
    const values = await model.weights(t.name);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (values.length !== n) throw new ExportError(`tensor "${t.name}" has ${values.length} values, expected ${t.shape.join('×')}`);
    const data = fromF32(dtype, values);
    if (shardBytes > 0 && shardBytes + data.byteLength > maxShard) {
      shards.push(new Map());
      shardBytes = 0;
    }
    shards[shards.length - 1].set(t.name, { dtype, shape: t.shape, data });
    shardBytes += data.byteLength;
  }
  const files: ExportedFiles = new Map();
  const config = { ...model.config, torch_dtype: TORCH_DTYPE[dtype] };
  files.set('config.json', textPart(JSON.stringify(config, null, 2) + '\n'));
  for (const [name, text] of model.textFiles) if (name !== 'config.json' && name !== 'model.safetensors.index.json') files.set(name, textPart(text));
  if (shards.length === 1) {
    files.set('model.safetensors', [serializeSafetensors(shards[0], { format: 'pt' })]);
  } else {
    const weightMap: Record<string, string> = {};
    let total = 0;
    shards.forEach((shard, i) => {
      const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
      files.set(file, [serializeSafetensors(shard, { format: 'pt' })]);
      for (const [name, t] of shard) {
        weightMap[name] = file;
        total += t.data.byteLength;
      }
    });
    const sorted = Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    files.set('model.safetensors.index.json', textPart(JSON.stringify({ metadata: { total_size: total }, weight_map: sorted }, null, 2) + '\n'));
  }
  options.onProgress?.({ stage: 'done', done: list.length, total: list.length });
  return files;
}
