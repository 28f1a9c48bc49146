// The planner at full size on the real configs (config.json alone, no weights): the goals
// for seq 512, batch 4, r 8 on q_proj and v_proj with a 4-bit base, checkpointing and micro-batch
// as the planner picks them (the effective batch stays 4).
import { describe, expect, it } from 'vitest';
import { familyFromConfig, type PlanDevice } from '../../../src/engine/model/families';
import { planTraining } from '../../../src/engine/train/run';
import { REAL_CONFIGS, type RealModel } from '../../../src/formats/gen/realConfigs';
import { DEFAULT_SETTINGS, type BaseWeights, type RunSettings } from '../../../src/settings/settings';

const GiB = 2 ** 30;
const GOALS: [RealModel, number][] = [
  ['SmolLM2-135M', 0.5],
  ['Qwen2.5-0.5B', 1.0],
  ['Llama-3.2-1B', 1.5],
  ['Llama-3.2-3B', 3.0],
];
const DEVICES: [string, PlanDevice][] = [
  ['a 128 MiB binding limit (lavapipe, many laptops)', { f16: true, maxStorageBufferBindingSize: 128 << 20, maxBufferSize: 4 * GiB }],
  ['2 GiB bindings', { f16: true, maxStorageBufferBindingSize: 2 * GiB - 4, maxBufferSize: 2 * GiB }],
];

function settings(weights: BaseWeights): RunSettings {
  return {
    ...DEFAULT_SETTINGS,
    lora: { ...DEFAULT_SETTINGS.lora, r: 8, targets: ['q_proj', 'v_proj'] },
    train: { ...DEFAULT_SETTINGS.train, batchSize: 4, microBatch: 0, maxLength: 512, gradientCheckpointing: 'auto', weights },
  };
}

describe('planner goals at full size (seq 512, batch 4, r 8 on q,v)', () => {
  for (const [deviceName, device] of DEVICES) {
    for (const [model, goal] of GOALS) {
      it(`${model} with a 4-bit base fits ${goal} GiB on a device with ${deviceName}`, () => {
        const family = familyFromConfig(REAL_CONFIGS[model].config);
        const plan = planTraining(family.onDevice(device), settings('nf4'), { longestRow: 512 }, { budgetBytes: goal * GiB, maxBufferSize: device.maxBufferSize });
        expect(plan.fits, plan.advice ?? '').toBe(true);
        expect(plan).toMatchObject({ weights: 'nf4', seqLen: 512 });
        expect(plan.microBatch * plan.gradAccum).toBe(4);
        expect(plan.memory.total).toBeLessThanOrEqual(goal * GiB);
        // auto finds a precision that fits too (nf4, or better where there is room)
        expect(planTraining(family.onDevice(device), settings('auto'), { longestRow: 512 }, { budgetBytes: goal * GiB, maxBufferSize: device.maxBufferSize }).fits).toBe(true);
      });
    }
  }

  it('without the quantized base the larger models do not fit their goals (what nf4 buys)', () => {
    const device = DEVICES[0][1];
    for (const [model, goal] of GOALS.slice(1)) {
      const family = familyFromConfig(REAL_CONFIGS[model].config);
      const f16 = planTraining(family.onDevice(device), settings('f16'), { longestRow: 512 }, { budgetBytes: goal * GiB, maxBufferSize: device.maxBufferSize });
      expect(f16.fits, model).toBe(false);
    }
  });
});
