/**
 * Loading a base model onto the GPU from any ModelFiles (a Node folder, dropped browser files, a
 * served URL, the hub): the folder is opened and validated, the family chosen from config.json,
 * and the frozen weights uploaded tensor by tensor — large ones streamed a chunk of rows at a time
 * (ranged reads), so host memory stays flat — with progress in bytes.
 */
import { openModelFolder, type ModelFiles, type ModelFolder } from '../../formats/modelFolder';
import type { Gpu } from '../gpu/device';
import type { WeightFormat } from '../kernels/quant/layout';
import { LlamaGpu } from './llama';

export interface LoadModelOptions {
  /**
   * How the frozen base is stored: f32 (default), f16 (shader-f16), q8 or nf4 — planTraining picks
   * it; a function gets the opened folder (config and tensor list) first and answers.
   */
  weights?: WeightFormat | ((folder: ModelFolder) => WeightFormat);
  /** Bytes of tensors read so far, of all. */
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
  const parameters = folder.tensorNames.reduce((n, t) => n + folder.tensorInfo(t).shape.reduce((a, b) => a * b, 1), 0);
  let loaded = 0;
  const read = (tensor: string, count: number) => {
    loaded += count;
    opts.onProgress?.(loaded, bytes, tensor);
  };
  opts.onProgress?.(0, bytes, '');
  const model = await LlamaGpu.load(
    gpu,
    folder.spec,
    {
      readF32: async (tensor) => {
        const values = await folder.readTensorF32(tensor);
        read(tensor, sizeOf(tensor));
        return values;
      },
      dtype: (tensor) => folder.tensorInfo(tensor).dtype,
      readRows: async (tensor, row0, count) => {
        const raw = await folder.readTensorRows(tensor, row0, count);
        read(tensor, raw.byteLength);
        return raw;
      },
    },
    { weights: typeof opts.weights === 'function' ? opts.weights(folder) : opts.weights, signal: opts.signal },
  );
  return { model, folder, parameters, bytes };
}
