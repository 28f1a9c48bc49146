/** Training progress on a terminal (a redrawn bar) or as plain lines (pipes, CI logs). */
export interface ProgressLine {
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  etaMs: number;
  skipped: boolean;
  /** Why a step was skipped. */
  reasons?: string[];
}

function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

export function describeStep(p: ProgressLine): string {
  const parts = [
    `step ${p.step}/${p.totalSteps}`,
    `loss ${p.loss.toFixed(4)}`,
    `lr ${p.lr.toExponential(2)}`,
    `grad norm ${p.gradNorm.toFixed(3)}`,
    `${Math.round(p.tokensPerSecond)} tok/s`,
    `eta ${Number.isFinite(p.etaMs) ? duration(p.etaMs) : '(measuring)'}`,
  ];
  if (p.skipped) parts.push(`SKIPPED (${p.reasons?.join('; ') || 'non-finite loss or gradient'})`);
  return parts.join('  ');
}

export class Progress {
  private readonly tty: boolean;
  constructor(private readonly out: NodeJS.WriteStream, private readonly logEvery: number) {
    this.tty = Boolean(out.isTTY);
  }

  update(p: ProgressLine): void {
    if (this.tty) {
      const width = 24;
      const filled = Math.round((p.step / Math.max(1, p.totalSteps)) * width);
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      this.out.write(`\r\x1b[2K${bar} ${describeStep(p)}`);
      if (p.skipped) this.out.write('\n');
    } else if (p.step === 1 || p.step % this.logEvery === 0 || p.step === p.totalSteps || p.skipped) {
      this.out.write(describeStep(p) + '\n');
    }
  }

  /** A line of its own (validation results, warnings), keeping the bar below it on a terminal. */
  note(text: string): void {
    this.out.write(this.tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
  }

  done(): void {
    if (this.tty) this.out.write('\n');
  }
}
