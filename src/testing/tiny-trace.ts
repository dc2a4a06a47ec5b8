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

/**
 * A zap_all_fast of 25 obsolete pages by the memslot thread (kvm-workload-100): after zap 10 a vCPU
 * (kvm-workload-101) does mmu_lock work, after zap 20 the zapper is switched out: two observed breaks.
 */
export function zapAllFastTrace(): string {
  const VCPU = 'kvm-workload-101';
  const VMM = 'kvm-workload-100';
  const lines: string[] = [
    ev(VCPU, 0, '1409.100000', 'kvm_mmu_get_page', 'sp gen 0 gfn 1 l4 8-byte q0 wux nxe ad root 0 sync new'),
    ev(VMM, 1, '1409.121145', 'kvm_mmu_zap_all_fast', 'kvm-mmu-valid-gen 0 used_pages 19'),
  ];
  for (let k = 0; k < 25; k++) {
    const ts = (1409.1212 + k * 0.0001).toFixed(6);
    lines.push(ev(VMM, 1, ts, 'kvm_mmu_prepare_zap_page', `sp gen 0 gfn ${(0x100 + k).toString(16)} l1 8-byte q0 wux nxe ad root 0 sync`));
    if (k === 9) lines.push(ev(VCPU, 0, (1409.1212 + k * 0.0001 + 0.00005).toFixed(6), 'kvm_mmu_get_page', 'sp gen 1 gfn 1 l4 8-byte q0 wux nxe ad root 0 sync new'));
    if (k === 19) {
      lines.push(`${VMM.padStart(20)} [001] d..2. ${(1409.1212 + k * 0.0001 + 0.00002).toFixed(6)}: sched_switch: prev_comm=kvm-workload prev_pid=100 prev_prio=120 prev_state=R ==> next_comm=kvm-workload next_pid=101 next_prio=120`);
    }
  }
  lines.push(ev(VMM, 1, '1409.200000', 'kvm_userspace_exit', 'reason KVM_EXIT_IO (2)', '.....'));
  return tinyTrace(lines);
}
