// Beside the target checkboxes: which of the encoder's own modules each setting name adapts (PEFT's
// target_modules are written in these names; the encoder has no gate projection).
import { useStudio } from '../context';

export function EncoderModules() {
  const model = useStudio((s) => s.model);
  const targets = useStudio((s) => s.settings.lora.targets);
  if (model.status !== 'ready' || model.info.family === 'llama' || !model.info.targetModules) return null;
  return (
    <div className="hint" data-testid="encoder-modules">
      <p>This {model.info.family} encoder names its projections its own way; the adapter and its adapter_config.json use these names:</p>
      <ul className="plain">
        {model.info.targetModules.map((m) => (
          <li key={m.target} data-target={m.target} data-module={m.module ?? ''}>
            <code>{m.target}</code> → {m.module ? <code>{m.module}</code> : <em>none (no gate in an encoder’s MLP)</em>}
            {targets.includes(m.target as never) && ' ✓'}
          </li>
        ))}
      </ul>
      <p>The classification head ({model.info.family === 'bert' ? 'classifier' : model.info.family === 'roberta' ? 'classifier.dense and classifier.out_proj' : 'pre_classifier and classifier'}) is trained in full and saved under PEFT’s modules_to_save names.</p>
    </div>
  );
}
