/**
 * Loading a base model onto the GPU from any ModelFiles (a Node folder, dropped browser files, a
 * served URL, the hub): the folder is opened and validated, the family chosen from config.json,
 * and the frozen weights uploaded tensor by tensor with progress.
 */
import { openModelFolder, type ModelFiles, type ModelFolder } from '../../formats/modelFolder';
import type { Gpu } from '../gpu/device';
import { LlamaGpu } from './llama';

export interface LoadModelOptions {
  /** Store frozen projections as f16 (needs shader-f16). Default: when the device has it. */
  f16?: boolean;
  /** Bytes of tensors uploaded so far, of all. */
  onProgress?: (loaded: number, total: number, tensor: string) => void;
  signal?: AbortSignal;
}

export interface LoadedModel {
  model: LlamaGpu;
  folder: ModelFolder;
  /** Values in every tensor of the folder. */
  parameters: number;
  /** Bytes of the weights as stored. */
  bytes: number;
}

export async function loadModel(gpu: Gpu, files: ModelFiles, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const folder = await openModelFolder(files);
  opts.signal?.throwIfAborted();
  const sizeOf = (t: string) => {
    const [b, e] = folder.tensorInfo(t).dataOffsets;
    return e - b;
  };
  const bytes = folder.tensorNames.reduce((n, t) => n + sizeOf(t), 0);
  let loaded = 0;
  let parameters = 0;
  opts.onProgress?.(0, bytes, '');
  const model = await LlamaGpu.load(
    gpu,
    folder.spec,
    async (tensor) => {
      const values = await folder.readTensorF32(tensor);
      parameters += values.length;
      loaded += sizeOf(tensor);
      opts.onProgress?.(loaded, bytes, tensor);
      return values;
    },
    { f16: opts.f16, signal: opts.signal },
  );
  return { model, folder, parameters, bytes };
}
