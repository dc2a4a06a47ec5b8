// Ingest progress on stderr: a bar (cli-progress) that appears only on a TTY, only for inputs whose
// size is known, and only once the ingest has run for a second; stdout carries nothing but the result.
import { statSync } from 'node:fs';
import cliProgress from 'cli-progress';

export const PROGRESS_DELAY_MS = 1000;

export interface ProgressStream {
  isTTY?: boolean;
  write(s: string): boolean;
}

export class IngestProgress {
  private bar: cliProgress.SingleBar | null = null;
  private readonly start: number;

  constructor(
    private readonly label: string,
    private readonly total: number | null,
    private readonly stream: ProgressStream = process.stderr,
    private readonly now: () => number = Date.now,
  ) {
    this.start = now();
  }

  /** For a file path: its size; stdin's is unknown. */
  static forPath(path: string, label = path): IngestProgress {
    let total: number | null = null;
    try {
      if (path !== '-') total = statSync(path).size;
    } catch {
      // ingest reports the unreadable path
    }
    return new IngestProgress(label, total);
  }

  update = (bytesIn: number): void => {
    if (!this.stream.isTTY || !this.total) return;
    if (!this.bar) {
      if (this.now() - this.start < PROGRESS_DELAY_MS) return;
      this.bar = new cliProgress.SingleBar({
        stream: this.stream as NodeJS.WritableStream,
        // within 80 columns: 24 + 2 + 20 + 2 + "100% | 9999/9999 MiB | 999s"
        format: `${this.label.slice(-24)} [{bar}] {percentage}% | {value}/{total} MiB | {duration}s`,
        barsize: 20, hideCursor: true, clearOnComplete: true,
      }, cliProgress.Presets.legacy);
      this.bar.start(mib(this.total), 0);
    }
    this.bar.update(mib(Math.min(bytesIn, this.total)));
  };

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}

const mib = (bytes: number): number => Math.max(1, Math.round(bytes / 2 ** 20));
