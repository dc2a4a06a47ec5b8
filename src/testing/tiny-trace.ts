// Tiny traces for rule tests: real ftrace lines (copied from the corpus or written in its exact
// format) under a real `trace` file header, written to a temporary file.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HEADER = `# tracer: nop
#
# entries-in-buffer/entries-written: N/N   #P:2
#
#                                _-----=> irqs-off/BH-disabled
#                               / _----=> need-resched
#                              | / _---=> hardirq/softirq
#                              || / _--=> preempt-depth
#                              ||| / _-=> migrate-disable
#                              |||| /     delay
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
`;

let dir: string | null = null;
let n = 0;

/** Writes `lines` (each a full ftrace event line) as a trace file; returns its path. */
export function tinyTrace(lines: string[]): string {
  dir ??= mkdtempSync(join(tmpdir(), 'mmu-trace-tiny-'));
  const path = join(dir, `t${n++}.txt`);
  writeFileSync(path, HEADER.replace('N/N', `${lines.length}/${lines.length}`) + lines.join('\n') + '\n');
  return path;
}

/** One ftrace line: task-pid, cpu, flags, seconds, event, payload. */
export function ev(task: string, cpu: number, ts: string, event: string, payload: string, flags = '...1.'): string {
  return `${task.padStart(20)} [${String(cpu).padStart(3, '0')}] ${flags} ${ts.padStart(12)}: ${event}: ${payload}`;
}
