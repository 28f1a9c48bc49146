// GPU time of one training step by kernel: `ADAPTER_STUDIO_ICD=lavapipe npx tsx bench/profile-step.ts [--layers N]`.
// Runs the e2e bench's quick configuration (SmolLM2-135M shape, T256 B1, r8 on q,v) with every
// recorder timed (one timestamped pass per dispatch: a little slower than the untimed step), and
// prints the last step's passes summed by kernel and pipeline kind. Compilation (lavapipe compiles
// at the first dispatch, inside the pass) only shows in the first step, which is not printed.
import { register } from 'node:module';

register('./raw-hooks.mjs', import.meta.url);
const { createNodeGpu } = await import('../src/engine/gpu/node');
const { Recorder } = await import('../src/engine/gpu/recorder');
const { GpuTimer } = await import('../src/engine/gpu/timer');
const { runE2e } = await import('./e2e');
type Dispatch = import('../src/engine/gpu/recorder').Dispatch;

const layers = process.argv.includes('--layers') ? Number(process.argv[process.argv.indexOf('--layers') + 1]) : 2;
const gpu = await createNodeGpu();
const submits: Promise<Map<string, { ms: number; n: number }>>[] = [];
const dispatch = Recorder.prototype.dispatch;
Recorder.prototype.dispatch = function (this: InstanceType<typeof Recorder>, d: Dispatch) {
  const self = this as unknown as { wants: unknown; timer?: InstanceType<typeof GpuTimer> };
  if (!self.wants && !self.timer) self.timer = new GpuTimer(gpu, 2048);
  const c = d.constants ?? {};
  const kind = d.kernel.name.startsWith('matmul') ? ` ${c.TM ?? 4}×${c.TN ?? 4}${c.UNROLL ? ' written out' : ''}${c.B_TYPE === 'f16' ? ' f16 B' : ''}` : '';
  dispatch.call(this, { ...d, label: `${d.kernel.name}${kind}` });
};
const submit = Recorder.prototype.submit;
Recorder.prototype.submit = function (this: InstanceType<typeof Recorder>) {
  const timer = (this as unknown as { timer?: InstanceType<typeof GpuTimer> }).timer;
  submit.call(this);
  if (timer && this.dispatches > 0) {
    submits.push(timer.take().then((ts) => {
      const byKernel = new Map<string, { ms: number; n: number }>();
      for (const t of ts) {
        const e = byKernel.get(t.label) ?? { ms: 0, n: 0 };
        e.ms += t.ms;
        e.n++;
        byKernel.set(t.label, e);
      }
      return byKernel;
    }));
  }
};
await runE2e(gpu, { quick: true, layers, steps: 2, maxCaseSeconds: 1, maxTokens: 256 }, () => {});
const all = await Promise.all(submits);
const step = all.filter((m) => [...m.values()].reduce((s, e) => s + e.n, 0) > 50).at(-1)!;
const total = [...step.values()].reduce((s, e) => s + e.ms, 0);
console.log(`${gpu.adapter.name}: one step, ${layers} layers, GPU ms by kernel (load ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')})\n`);
console.log('| kernel | dispatches | ms | share |\n|---|---:|---:|---:|');
for (const [k, e] of [...step.entries()].sort((a, b) => b[1].ms - a[1].ms)) console.log(`| ${k} | ${e.n} | ${e.ms.toFixed(0)} | ${((100 * e.ms) / total).toFixed(1)}% |`);
console.log(`| total | | ${total.toFixed(0)} | |`);
process.exit(0);
