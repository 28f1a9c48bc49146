import { useState } from 'react';
import { useController } from '../context';
import type { OnnxVariant } from '../../formats/export/kinds';
import type { OnnxAnswer } from '../../worker/onnxPlayground';

const VARIANTS: { value: OnnxVariant; label: string }[] = [
  { value: 'fp32', label: 'fp32' },
  { value: 'fp16', label: 'fp16' },
  { value: 'q8', label: '8-bit (q8)' },
  { value: 'q4', label: '4-bit (q4)' },
];

/**
 * The playground's third answer: the model exported as ONNX and run by transformers.js (on
 * onnxruntime-web) in the worker — what a web page shipping the export will answer — next to our
 * engine's answer for the same prompt, with whether the two agree.
 */
export function WebAnswer({ prompt, side, opts, engineAnswer, disabled }: {
  prompt: string;
  side: 'base' | 'tuned';
  opts: { maxNewTokens: number; temperature: number; seed: number };
  /** Our engine's answer on the same side (null until it has one). */
  engineAnswer: string | null;
  disabled: boolean;
}) {
  const c = useController();
  const [variant, setVariant] = useState<OnnxVariant>('fp32');
  const [stage, setStage] = useState<string | null>(null);
  const [answer, setAnswer] = useState<(OnnxAnswer & { prompt: string }) | null>(null);
  const run = async () => {
    setAnswer(null);
    setStage('starting');
    try {
      const a = await c.onnxGenerate(prompt, side, variant, setStage, opts);
      setAnswer({ ...a, prompt });
    } catch (error) {
      c.store.getState().notify('error', `The ONNX answer failed: ${(error as Error).message}`);
    } finally {
      setStage(null);
    }
  };
  const agree = answer && engineAnswer !== null && answer.prompt === prompt ? answer.text === engineAnswer : null;
  return (
    <div className="panel answer" data-testid="web-answer">
      <h3>In your web page (transformers.js, ONNX export{side === 'tuned' ? ' with the adapter merged' : ''})</h3>
      <div className="row">
        <label className="compact">
          weights{' '}
          <select data-testid="onnx-variant" value={variant} onChange={(e) => setVariant(e.target.value as OnnxVariant)} disabled={stage !== null}>
            {VARIANTS.map((v) => <option key={v.value} value={v.value}>{v.label}</option>)}
          </select>
        </label>
        <button type="button" data-testid="onnx-run" disabled={disabled || stage !== null || !prompt.trim()} onClick={() => void run()}>
          {stage ? `${stage[0].toUpperCase()}${stage.slice(1)}…` : 'Answer with the ONNX export'}
        </button>
      </div>
      {answer && (
        <>
          <p className="answer-text" data-testid="answer-onnx" data-done="1">{answer.text || <span className="hint">(no text: the model ended its answer at once)</span>}</p>
          <p className="hint" data-testid="onnx-agreement" data-agree={agree === null ? '' : agree ? '1' : '0'}>
            {answer.variant} on {answer.device === 'webgpu' ? 'WebGPU' : 'wasm'}
            {agree === null ? '' : agree ? ' · the same answer as the studio’s engine' : ' · differs from the studio’s engine (quantized weights or sampling can change the choice of a token)'}
          </p>
        </>
      )}
    </div>
  );
}
