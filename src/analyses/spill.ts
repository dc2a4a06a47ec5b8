// Scratch space on disk for what grows with the trace (finding rows, DuckDB's staged events): one
// temp directory per use, removed when its user is done, on exit, and on SIGINT/SIGTERM.
import { mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const live = new Set<string>();

function removeAll(): void {
  for (const dir of live) rmSync(dir, { recursive: true, force: true });
  live.clear();
}

/**
 * A signal ends the process by default, skipping 'exit' listeners: remove the directories, then
 * die of the signal. When someone else also listens (record, live), they end the process gracefully
 * and the 'exit' listener removes them.
 */
function onSignal(sig: NodeJS.Signals): void {
  if (process.listenerCount(sig) > 1) return;
  removeAll();
  process.off(sig, onSignal);
  process.kill(process.pid, sig);
}

let hooked = false;

export interface ScratchDir {
  readonly path: string;
  remove(): void;
}

export function scratchDir(prefix: string, parent = tmpdir()): ScratchDir {
  if (!hooked) {
    process.on('exit', removeAll).on('SIGINT', onSignal).on('SIGTERM', onSignal);
    hooked = true;
  }
  const path = mkdtempSync(join(parent, prefix));
  live.add(path);
  return {
    path,
    remove(): void {
      rmSync(path, { recursive: true, force: true });
      live.delete(path);
    },
  };
}

/** Fixed-size pages in one file of a scratch directory made on the first write, read back by index. */
export class PageFile {
  private fd = -1;

  constructor(private readonly pageBytes: number) {}

  write(index: number, buf: ArrayBuffer): void {
    if (this.fd < 0) {
      this.fd = openSync(join(scratchDir('mmu-trace-findings-').path, 'pages'), 'w+');
    }
    writeSync(this.fd, new Uint8Array(buf), 0, this.pageBytes, index * this.pageBytes);
  }

  read(index: number, buf: ArrayBuffer): void {
    const n = readSync(this.fd, new Uint8Array(buf), 0, this.pageBytes, index * this.pageBytes);
    if (n !== this.pageBytes) throw new Error(`spill file: page ${index} short (${n} of ${this.pageBytes} bytes)`);
  }
}
