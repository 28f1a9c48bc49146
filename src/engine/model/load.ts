/**
 * Loading a base model onto the GPU from any ModelFiles (a Node folder, dropped browser files, a
 * served URL, the hub): the folder is opened and validated, the family chosen from config.json
 * (a Llama-family decoder or a BERT-family encoder), and the frozen weights uploaded tensor by
 * tensor with progress.
 */
import { openModelFolder, type DecoderFolder, type EncoderFolder, type ModelFiles } from '../../formats/modelFolder';
import type { Gpu } from '../gpu/device';
import { LlamaGpu } from './llama';
import { EncoderGpu } from './encoder';
import type { EncoderTask } from './encoderSpec';

export interface LoadModelOptions {
  /** Store frozen projections as f16 (needs shader-f16). Default: when the device has it. */
  f16?: boolean;
  /** Bytes of tensors uploaded so far, of all. */
  onProgress?: (loaded: number, total: number, tensor: string) => void;
  signal?: AbortSignal;
  /** An encoder's task (default: its config's labels); and the seed of a head the checkpoint lacks. */
  task?: EncoderTask;
  seed?: number;
}

interface LoadedBase {
  /** Values in every tensor the model read. */
  parameters: number;
  /** Bytes of the weights as stored. */
  bytes: number;
}

export type LoadedModel =
  | (LoadedBase & { family: 'llama'; model: LlamaGpu; folder: DecoderFolder })
  | (LoadedBase & { family: 'encoder'; model: EncoderGpu; folder: EncoderFolder });

export async function loadModel(gpu: Gpu, files: ModelFiles, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const folder = await openModelFolder(files);
  opts.signal?.throwIfAborted();
  const sizeOf = (t: string) => {
    const [b, e] = folder.tensorInfo(t).dataOffsets;
    return e - b;
  };
  const used = folder.family === 'encoder' ? [...folder.weights.names.values()] : folder.tensorNames;
  const bytes = used.reduce((n, t) => n + sizeOf(t), 0);
  let loaded = 0;
  let parameters = 0;
  opts.onProgress?.(0, bytes, '');
  const read = async (tensor: string) => {
    const values = await folder.readTensorF32(tensor);
    parameters += values.length;
    loaded += sizeOf(tensor);
    opts.onProgress?.(Math.min(loaded, bytes), bytes, tensor);
    return values;
  };
  if (folder.family === 'encoder') {
    const model = await EncoderGpu.load(gpu, folder.spec, read, { f16: opts.f16, signal: opts.signal, tensorNames: folder.tensorNames, task: opts.task, seed: opts.seed });
    return { family: 'encoder', model, folder, parameters, bytes };
  }
  const model = await LlamaGpu.load(gpu, folder.spec, read, { f16: opts.f16, signal: opts.signal });
  return { family: 'llama', model, folder, parameters, bytes };
}
