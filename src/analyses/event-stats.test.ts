// Which MMU a trace shows (kernel.mmu), on the real 6.1 TDP capture and the real shadow-paging ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture } from '../testing/fixtures.js';
import { analyzeTrace } from '../pipeline/analyze.js';

const dir = mkdtempSync(join(tmpdir(), 'mmu-trace-mmu-'));

async function mmuOf(lines: string[]): Promise<[string, string]> {
  const path = join(dir, 'excerpt.txt');
  writeFileSync(path, lines.join('\n') + '\n');
  const { kernel } = await analyzeTrace(path, { model: false });
  return [kernel.mmu, kernel.mmuEvidence];
}

test('kernel.mmu: TDP from kvm_tdp_mmu_spte_changed or TDP MMU stack frames; shadow from installs with no TDP sign, saying what it assumes; shadow pages alone are unknown', async () => {
  const tdp = gunzipSync(readFileSync(fixture('tdp-nested/tdp-nx-recovery.ftrace.txt.gz'))).toString('utf8').split('\n').slice(0, -1);
  // zcat ... | awk '{print $5}' | sort | uniq -c: 132 kvm_tdp_mmu_spte_changed, 48 kvm_mmu_set_spte
  assert.deepEqual(await mmuOf(tdp), ['tdp', '132 kvm_tdp_mmu_spte_changed events']);
  // the same TDP capture without its SPTE-change events: its installs alone look like the shadow MMU's
  const noChanges = tdp.filter((l) => !l.includes('kvm_tdp_mmu_spte_changed:'));
  const [mmu, why] = await mmuOf(noChanges);
  assert.deepEqual([mmu, why], ['shadow', '48 kvm_mmu_set_spte installs and no TDP event or frame (the TDP MMU\'s would come with kvm_tdp_mmu_spte_changed, if that event was enabled)']);
  // ...unless a stack trace shows TDP MMU code. Made by hand (no capture here has one): the frames of
  // a 6.1 install on an NPT fault, after the capture's first kvm_mmu_set_spte line
  const at = noChanges.findIndex((l) => l.includes('kvm_mmu_set_spte:'));
  const stack = [noChanges[at]!.replace(/kvm_mmu_set_spte: .*/, '<stack trace>'),
    ...['trace_event_raw_event_kvm_mmu_set_spte', 'kvm_tdp_mmu_map', 'kvm_tdp_page_fault', 'kvm_mmu_page_fault', 'npf_interception', 'svm_handle_exit', 'kvm_arch_vcpu_ioctl_run'].map((f) => ` => ${f}`)];
  assert.deepEqual(await mmuOf([...noChanges.slice(0, at + 1), ...stack, ...noChanges.slice(at + 1)]),
    ['tdp', 'TDP MMU code in a stack trace or function row (kvm_tdp_mmu_map)']);
  // shadow pages only (a TDP VM has them for its nested guests): unknown
  assert.deepEqual(await mmuOf(tdp.filter((l) => l.startsWith('#') || l.includes('kvm_mmu_get_page:'))),
    ['unknown', 'shadow pages only (a TDP VM has them too, for nested guests), no SPTE event']);
  // a real shadow-paging capture (this host, tdp_mmu=N)
  const touch = readFileSync(fixture('cuts/touch.ftrace.txt'), 'utf8').split('\n').slice(0, -1);
  assert.equal((await mmuOf(touch))[0], 'shadow');
});
