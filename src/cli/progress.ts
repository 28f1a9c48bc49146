import { formatBytes } from '../units';

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

/**
 * Before the first step: the weights streaming in and the kernels compiling beside them (the run
 * compiles while the model loads), on one redrawn line on a terminal, or a line for each when it
 * finishes (pipes, CI logs).
 */
export class StartupProgress {
  private readonly tty: boolean;
  private load = { done: 0, total: 0, started: 0, finished: false };
  private kernels = { done: 0, total: 0, started: 0, finished: false };
  private closed = false;

  constructor(private readonly out: NodeJS.WriteStream) {
    this.tty = Boolean(out.isTTY);
  }

  /** The loader's progress: bytes read of all. */
  readonly loading = (done: number, total: number): void => {
    this.load = { ...this.load, done, total, started: this.load.started || performance.now() };
    if (total > 0 && done >= total && !this.load.finished) {
      this.load.finished = true;
      this.line(`weights: ${formatBytes(total)} loaded in ${this.seconds(this.load.started)}`);
    } else this.draw();
  };

  /** The run's compile events: pipelines compiled of those its first step needs. */
  compiling(done: number, total: number): void {
    if (this.kernels.total === 0 && done === 0) this.kernels.started = performance.now();
    this.kernels = { ...this.kernels, done, total };
    if (done >= total && !this.kernels.finished) {
      this.kernels.finished = true;
      this.line(total === 0 ? 'kernels: all compiled already' : `kernels: ${total} compiled in ${this.seconds(this.kernels.started)}${this.load.finished ? '' : ' (while the weights load)'}`);
    } else this.draw();
  }

  /** The first step came: clears the line. */
  done(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.tty) this.out.write('\r\x1b[2K');
  }

  private seconds(from: number): string {
    return `${((performance.now() - from) / 1000).toFixed(1)} s`;
  }

  private line(text: string): void {
    if (this.closed) return;
    this.out.write(this.tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
    this.draw();
  }

  private draw(): void {
    if (!this.tty || this.closed) return;
    const parts: string[] = [];
    if (!this.load.finished && this.load.total > 0) parts.push(`loading weights ${Math.floor((100 * this.load.done) / this.load.total)}% of ${formatBytes(this.load.total)}`);
    if (!this.kernels.finished && this.kernels.total > 0) parts.push(`compiling kernels ${this.kernels.done}/${this.kernels.total}`);
    this.out.write(`\r\x1b[2K${parts.join(' · ')}`);
  }
}
