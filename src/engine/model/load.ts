/**
 * Loading a base model onto the GPU from any ModelFiles (a Node folder, dropped browser files, a
 * served URL, the hub): the folder is opened and validated, the family chosen from config.json
 * (a Llama-family decoder or a BERT-family encoder), and the frozen weights uploaded tensor by
 * tensor with progress in bytes — a decoder's large ones streamed a chunk of rows at a time
 * (ranged reads) and quantized on the GPU where asked, so host memory stays flat. Every buffer is
 * allocated before the first tensor is read (openModel), so a run can compile its pipelines while
 * the weights stream in.
 */
import { openModelFolder, type DecoderFolder, type EncoderFolder, type ModelFiles, type ModelFolder } from '../../formats/modelFolder';
import type { Gpu } from '../gpu/device';
import type { WeightFormat } from '../kernels/quant/layout';
import { LlamaGpu } from './llama';
import { EncoderError, EncoderGpu } from './encoder';
import type { EncoderTask } from './encoderSpec';

export interface LoadModelOptions {
  /**
   * How the frozen base is stored: f32 (default), f16 (shader-f16), q8 or nf4 — planTraining picks
   * it; a function gets the opened folder (config and tensor list) first and answers.
   */
  weights?: WeightFormat | ((folder: ModelFolder) => WeightFormat | undefined);
  /** Bytes of tensors read so far, of all. */
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

/**
 * A model whose buffers exist and whose weights are still streaming in: `loaded` resolves when
 * every tensor is on the GPU and checked (and rejects with the load's error, the model destroyed).
 * Meanwhile a run can plan and compile its pipelines (runTraining's `loading`, compileRun).
 */
export type OpeningModel = LoadedModel & { loaded: Promise<void> };

/** openModel, waiting for the weights. */
export async function loadModel(gpu: Gpu, files: ModelFiles, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const opened = await openModel(gpu, files, opts);
  await opened.loaded;
  return opened;
}

/**
 * Opens the folder (config, tensor index and tokenizer validated), allocates the model's buffers
 * in the format asked, and returns while the weights stream in (OpeningModel.loaded).
 */
export async function openModel(gpu: Gpu, files: ModelFiles, opts: LoadModelOptions = {}): Promise<OpeningModel> {
  const folder = await openModelFolder(files);
  opts.signal?.throwIfAborted();
  const sizeOf = (t: string) => {
    const [b, e] = folder.tensorInfo(t).dataOffsets;
    return e - b;
  };
  const used = folder.family === 'encoder' ? [...folder.weights.names.values()] : folder.tensorNames;
  const bytes = used.reduce((n, t) => n + sizeOf(t), 0);
  const parameters = used.reduce((n, t) => n + folder.tensorInfo(t).shape.reduce((a, b) => a * b, 1), 0);
  let done = 0;
  const read = (tensor: string, count: number) => {
    done += count;
    opts.onProgress?.(done, bytes, tensor);
  };
  opts.onProgress?.(0, bytes, '');
  const weights = typeof opts.weights === 'function' ? opts.weights(folder) : opts.weights;
  if (folder.family === 'encoder') {
    if (weights === 'q8' || weights === 'nf4') throw new EncoderError(`an encoder's base is stored f32 or f16; ${weights} is for decoders (choose --weights f32, f16 or auto)`);
    const readF32 = async (tensor: string) => {
      const values = await folder.readTensorF32(tensor);
      read(tensor, sizeOf(tensor));
      return values;
    };
    const f16 = weights === undefined ? undefined : weights === 'f16';
    const { model, loaded } = await EncoderGpu.open(gpu, folder.spec, readF32, { f16, signal: opts.signal, tensorNames: folder.tensorNames, task: opts.task, seed: opts.seed });
    return { family: 'encoder', model, folder, parameters, bytes, loaded };
  }
  const { model, loaded } = LlamaGpu.open(
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
    { weights, signal: opts.signal },
  );
  return { family: 'llama', model, folder, parameters, bytes, loaded };
}
