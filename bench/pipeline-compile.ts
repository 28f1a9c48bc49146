// Cold compile cost of each pipeline the demo model's first step uses, one at a time:
//
//   MESA_SHADER_CACHE_DISABLE=true ADAPTER_STUDIO_ICD=lavapipe npx tsx bench/pipeline-compile.ts [--model DIR] [--tokens T] [--list]
//
// The step is recorded into a collecting recorder (as Trainer.prepare does), which keeps the first
// dispatch of every pipeline with its real bindings and uniforms. Each of those dispatches is then
// submitted alone twice and waited for: llvmpipe generates a pipeline's code at its first dispatch,
// so first − second is the compilation. With the Mesa shader cache on (and empty) the times are the
// same plus the cache write. bench/first-step.ts times the whole first step.
import { register } from 'node:module';

register('./raw-hooks.mjs', import.meta.url);
const { createNodeGpu } = await import('../src/engine/gpu/node');
const { Recorder } = await import('../src/engine/gpu/recorder');
const { PipelineCache, pipelineKey, shaderCode } = await import('../src/engine/gpu/pipelines');
const { demoStep } = await import('./demoStep');
type Dispatch = import('../src/engine/gpu/recorder').Dispatch;

const arg = (name: string, fallback: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
const gpu = await createNodeGpu();

// The first dispatch of each pipeline, in recording order, captured from the collecting recorder.
const first = new Map<string, Dispatch>();
const dispatch = Recorder.prototype.dispatch;
Recorder.prototype.dispatch = function (this: InstanceType<typeof Recorder>, d: Dispatch) {
  if ((this as unknown as { wants: unknown }).wants) {
    const key = pipelineKey(d.kernel, d.constants ?? {}, d.entryPoint ?? d.kernel.entryPoint ?? 'main');
    if (!first.has(key)) first.set(key, d);
  }
  dispatch.call(this, d);
};
const rows: string[] = [];
let total = 0;
const listOnly = process.argv.includes('--list');
PipelineCache.prototype.prepare = async function () {
  for (const [key, d] of first) {
    if (listOnly) {
      rows.push(`| | | | \`${key}\` |`);
      continue;
    }
    const time = async () => {
      const t0 = performance.now();
      const rec = new Recorder(gpu, 'probe');
      rec.dispatch(d);
      await rec.done();
      return performance.now() - t0;
    };
    const a = await time();
    const b = await time();
    total += a - b;
    const lines = shaderCode(gpu, d.kernel, d.constants ?? {}).split('\n').length;
    rows.push(`| ${(a - b).toFixed(0)} | ${b.toFixed(1)} | ${lines} | \`${key}\` |`);
  }
};
await demoStep(gpu, { dir: arg('--model', 'public/models/demo'), T: Number(arg('--tokens', '64')) });
console.log(`${gpu.adapter.name}; MESA_SHADER_CACHE_DISABLE=${process.env.MESA_SHADER_CACHE_DISABLE ?? ''}; ${first.size} pipelines\n`);
console.log('| compile ms | run ms | WGSL lines | pipeline |\n|---:|---:|---:|---|');
for (const r of [...rows].sort((x, y) => parseFloat(y.slice(2)) - parseFloat(x.slice(2)))) console.log(r);
console.log(`\ntotal compile ${(total / 1000).toFixed(2)} s`);
process.exit(0);
