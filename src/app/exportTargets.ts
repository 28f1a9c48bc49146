// The destinations of the Library's "Export for…": where a trained adapter goes, in words a user
// picks by, and which export (formats/export, MODEL_EXPORTS) writes it. Python PEFT is the adapter's
// own files; the others merge it into the loaded base model or put it beside the base as GGUF. An
// encoder classifier's adapter (SEQ_CLS) goes to PEFT, the web (text-classification) and a merged
// Hugging Face folder: llama.cpp has no classification head for it (MODEL_EXPORTS.encoders).
import { MODEL_EXPORTS, type ModelExportFormat } from '../formats/export/kinds';

export type ExportTarget = 'peft' | ModelExportFormat;

export interface ExportTargetInfo {
  target: ExportTarget;
  title: string;
  /** How it is loaded there (docs/deploy.md has the full recipes). */
  detail: string;
  /** The same for an encoder classifier, where it differs. */
  encoderDetail?: string;
  /** The quantization choices with their labels; the first is the default. */
  quants: { value: string | null; label: string }[];
}

const QUANT_LABELS: Record<string, string> = {
  'fp32,q8,q4': 'fp32 + 8-bit + 4-bit (transformers.js dtype "fp32", "q8", "q4")',
  fp32: 'fp32 only', fp16: 'fp16 only', q8: '8-bit only', q4: '4-bit only', q4f16: '4-bit, fp16 activations only',
  f16: 'f16', q8_0: 'Q8_0 (8-bit)', f32: 'f32',
  F32: 'F32', BF16: 'BF16', F16: 'F16',
};

function quants(format: ModelExportFormat, values: (string | null)[]): ExportTargetInfo['quants'] {
  for (const v of values) if (v !== null && !v.split(',').every((q) => MODEL_EXPORTS[format].quants.includes(q))) throw new Error(`${format}: ${v} is not a quantization it takes`);
  return values.map((value) => ({ value, label: value === null ? 'as config.json says (torch_dtype)' : QUANT_LABELS[value] ?? value }));
}

export const EXPORT_TARGETS: ExportTargetInfo[] = [
  {
    target: 'peft', title: 'Python (PEFT)', detail: 'The adapter files: PeftModel.from_pretrained(base, folder) in Python.',
    encoderDetail: 'The adapter files and its labels (config.json): PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(base, config=folder), folder) in Python.',
    quants: [{ value: null, label: 'f32' }],
  },
  {
    target: 'onnx', title: 'Your web page (transformers.js)',
    detail: 'The merged model as ONNX with its tokenizer: pipeline("text-generation", folder) in transformers.js, or onnxruntime-web.',
    encoderDetail: 'The merged classifier as ONNX with its tokenizer and labels: pipeline("text-classification", folder) in transformers.js, or onnxruntime-web.',
    quants: quants('onnx', ['fp32,q8,q4', 'fp32', 'fp16', 'q8', 'q4']),
  },
  {
    target: 'gguf', title: 'llama.cpp, Ollama, LM Studio (merged GGUF)',
    detail: 'One GGUF with the tokenizer and chat template, and an Ollama Modelfile: llama-cli -m, ollama create, or open it in LM Studio.',
    quants: quants('gguf', ['f16', 'q8_0', 'f32']),
  },
  {
    target: 'gguf-adapter', title: 'llama.cpp, Ollama (GGUF LoRA + base)',
    detail: 'The adapter as a GGUF LoRA, the base as GGUF, and a Modelfile (FROM the base, ADAPTER the LoRA): llama-cli -m base --lora adapter.',
    quants: quants('gguf-adapter', ['f32', 'f16']),
  },
  {
    target: 'hf', title: 'Hugging Face folder (merged)',
    detail: 'The merged model as safetensors with config.json and tokenizer: AutoModelForCausalLM.from_pretrained(folder).',
    encoderDetail: 'The merged classifier as safetensors with its labels in config.json and the tokenizer: AutoModelForSequenceClassification.from_pretrained(folder).',
    quants: quants('hf', [null, 'F32', 'BF16', 'F16']),
  },
];

/** What an adapter is for: a decoder's CAUSAL_LM adapter or an encoder classifier's SEQ_CLS one (its adapter_config.json's task_type). */
export function adapterKind(adapterConfig: string): 'decoder' | 'encoder' {
  try {
    return (JSON.parse(adapterConfig) as { task_type?: unknown }).task_type === 'SEQ_CLS' ? 'encoder' : 'decoder';
  } catch {
    return 'decoder';
  }
}

/** The destinations an adapter of this kind can go to, with the words for it. */
export function exportTargetsFor(kind: 'decoder' | 'encoder'): ExportTargetInfo[] {
  if (kind === 'decoder') return EXPORT_TARGETS;
  return EXPORT_TARGETS.filter((t) => t.target === 'peft' || MODEL_EXPORTS[t.target].encoders).map((t) => ({ ...t, detail: t.encoderDetail ?? t.detail }));
}
