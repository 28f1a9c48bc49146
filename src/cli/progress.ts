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
  valLoss?: number;
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
    `eta ${duration(p.etaMs)}`,
  ];
  if (p.valLoss !== undefined) parts.push(`val loss ${p.valLoss.toFixed(4)}`);
  if (p.skipped) parts.push('SKIPPED (non-finite loss or gradient)');
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
      if (p.skipped || p.valLoss !== undefined) this.out.write('\n');
    } else if (p.step === 1 || p.step % this.logEvery === 0 || p.step === p.totalSteps || p.skipped || p.valLoss !== undefined) {
      this.out.write(describeStep(p) + '\n');
    }
  }

  done(): void {
    if (this.tty) this.out.write('\n');
  }
}
