// The playground's "your web page" answer: the model (with the tuned adapter merged in, or the base)
// exported as transformers.js loads it (formats/export, ONNX) and run by transformers.js itself —
// its text-generation pipeline on onnxruntime-web, WebGPU where the browser has it, else wasm — in
// this worker. The user sees the answer their web app will give, next to our engine's.
//
// transformers.js reads the export through its own `env.fetch` from memory: nothing is uploaded or
// downloaded. ONNX Runtime's wasm loads from this site (the file Vite emits for the bundled
// runtime), never from a CDN. One pipeline is kept (model, adapter, variant) and replaced when any
// of them changes.
import type { ExportedFiles } from '../formats/export/types';
import type { LoraAdapter } from '../formats/export/merge';
import type { OnnxVariant } from '../formats/export/kinds';
import type { SessionModel } from './model';
import type { GenerateOptions } from './protocol';
import { throwIfAborted } from './cancel';

/** transformers.js fetches the export from this host; no request leaves the worker. */
const HOST = 'https://adapter-studio.export.invalid/';

type Pipeline = ((messages: unknown, options: Record<string, unknown>) => Promise<unknown>) & { dispose(): Promise<void> };

let held: { key: string; pipeline: Pipeline; device: 'webgpu' | 'wasm'; files: Map<string, Blob> } | null = null;
let served = new Map<string, Blob>();
let installed = false;
let exports = 0;

async function transformers() {
  const t = await import('@huggingface/transformers');
  if (!installed) {
    installed = true;
    const fetchBefore = t.env.fetch;
    t.env.fetch = async (input: string | URL, init?: unknown) => {
      const url = String(input);
      if (!url.startsWith(HOST)) return fetchBefore(input, init);
      const blob = served.get(new URL(url).pathname.split('/').slice(3).join('/')); // /export/<n>/<path>
      return blob
        ? new Response(blob, { status: 200, headers: { 'content-length': String(blob.size), 'content-type': 'application/octet-stream' } })
        : new Response('not part of the export', { status: 404 });
    };
    t.env.remoteHost = HOST;
    t.env.remotePathTemplate = '{model}/';
    t.env.allowRemoteModels = true;
    t.env.allowLocalModels = false;
    t.env.useBrowserCache = false;
    // ONNX Runtime's own wasm, as the bundler emitted it next to this worker (not transformers.js's CDN default).
    const wasm = t.env.backends.onnx.wasm as { wasmPaths?: unknown; proxy?: boolean } | undefined;
    if (wasm) delete wasm.wasmPaths;
  }
  return t;
}

export interface OnnxAnswer {
  text: string;
  device: 'webgpu' | 'wasm';
  variant: OnnxVariant;
}

/**
 * Generates with transformers.js on the ONNX export of `model` (+ `adapter`, merged): the chat
 * template applied as our playground applies it, greedy at temperature 0, else sampled.
 */
export async function onnxGenerate(args: {
  model: SessionModel;
  adapter: LoraAdapter | null;
  /** Identifies the adapter's values (a new adapter, a new export). */
  adapterKey: string;
  variant: OnnxVariant;
  prompt: string;
  opts: GenerateOptions;
  signal: AbortSignal;
  onStage?: (stage: string) => void;
}): Promise<OnnxAnswer> {
  const { model, adapter, variant, opts, signal } = args;
  const key = `${model.key}|${args.adapterKey}|${variant}`;
  if (held?.key !== key) {
    await held?.pipeline.dispose().catch(() => {});
    held = null;
    args.onStage?.('exporting to ONNX');
    const ex = await import('../formats/export/index');
    const files: ExportedFiles = await ex.exportModel('onnx', await ex.openExportSource(model.files, adapter), adapter, { quant: variant });
    throwIfAborted(signal, 'the ONNX answer');
    const blobs = new Map([...files].map(([path, parts]) => [path, new Blob(parts as BlobPart[])]));
    served = blobs;
    args.onStage?.('loading it in transformers.js');
    const t = await transformers();
    const device = (self.navigator as Navigator & { gpu?: unknown }).gpu ? 'webgpu' : 'wasm';
    const repo = `export/m${++exports}`;
    const pipeline = (await t.pipeline('text-generation', repo, { device, dtype: variant as never })) as unknown as Pipeline;
    held = { key, pipeline, device, files: blobs };
  }
  served = held.files;
  throwIfAborted(signal, 'the ONNX answer');
  args.onStage?.('generating');
  const sample = opts.temperature > 0;
  // As our playground prompts (worker/generate.ts promptIds): the chat template when the model has one.
  const chat = Boolean((await model.text()).tokenizer.chat_template);
  const out = (await held.pipeline(chat ? [{ role: 'user', content: args.prompt }] : args.prompt, {
    max_new_tokens: opts.maxNewTokens,
    return_full_text: false,
    do_sample: sample,
    ...(sample ? { temperature: opts.temperature } : {}),
  })) as { generated_text: { role: string; content: string }[] | string }[];
  const generated = out[0]?.generated_text;
  const text = Array.isArray(generated) ? (generated[generated.length - 1]?.content ?? '') : String(generated ?? '');
  return { text, device: held.device, variant };
}
