// The progress bar shows only on a TTY, only for a known size, and only after a second.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IngestProgress, PROGRESS_DELAY_MS } from './progress.js';

function fakeStream(isTTY: boolean): { isTTY: boolean; out: string[]; write(s: string): boolean } {
  return { isTTY, out: [], write(s: string) { this.out.push(s); return true; } };
}

test('progress: silent off a TTY, for unknown sizes and during the first second; then a bar on stderr', () => {
  let now = 0;
  const clock = (): number => now;
  const pipe = fakeStream(false);
  const p1 = new IngestProgress('trace.txt', 10 << 20, pipe, clock);
  now = 5000;
  p1.update(1 << 20);
  p1.stop();
  assert.deepEqual(pipe.out, []);

  const tty = fakeStream(true);
  now = 0;
  const p2 = new IngestProgress('trace.txt', 10 << 20, tty, clock);
  now = PROGRESS_DELAY_MS - 1;
  p2.update(1 << 20);
  assert.deepEqual(tty.out, []);
  now = PROGRESS_DELAY_MS;
  p2.update(5 << 20);
  p2.stop();
  assert.match(tty.out.join(''), /trace\.txt \[.*\] 50% \| 5\/10 MiB/);

  const stdin = fakeStream(true);
  const p3 = new IngestProgress('-', null, stdin, clock);
  now = 10_000;
  p3.update(1 << 20);
  assert.deepEqual(stdin.out, []);
});

test('progress: the bar line fits 80 columns, with a long path and a 4-digit MiB size', () => {
  let now = 0;
  const tty = fakeStream(true);
  const p = new IngestProgress(`/a/very/long/directory/name/for/traces/${'x'.repeat(60)}.ftrace.txt`, 9000 * 2 ** 20, tty, () => now);
  now = PROGRESS_DELAY_MS;
  p.update(4500 * 2 ** 20);
  p.stop();
  // each redraw's own text, without the escape codes around it
  const lines = tty.out.map((w) => w.replace(/\x1b(\[[0-9;?]*[A-Za-z]|[78])/g, '')).filter((l) => l.includes('MiB'));
  assert.ok(lines.length > 0);
  for (const l of lines) assert.ok(l.length <= 80, `${l.length}: ${l}`);
});
