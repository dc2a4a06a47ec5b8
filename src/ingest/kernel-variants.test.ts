// Kernel-format variants (kvm-mmu-reference.md §1-§3), one named case each. The fixtures in
// fixtures/kernel-variants/ are hand-written from the quoted format strings (each says so in its
// header); the 6.18 text itself is covered by the real fixtures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture } from '../testing/fixtures.js';
import { present, rowsByLine } from '../testing/rows.js';
import { fastParseLine } from './event-row.js';
import { analyzeTrace } from '../pipeline/analyze.js';
import { DecodeContext } from './context.js';
import { ROLE_LAYOUTS } from './role.js';

const pick = (r: Record<string, unknown>, keys: string[]): unknown[] => keys.map((k) => r[k]);
const SP = ['sp_gen', 'gfn', 'level', 'gpte_bytes', 'quadrant', 'direct', 'access', 'invalid', 'nxe', 'ad', 'root_count', 'unsync', 'created'];

async function rows(name: string) {
  const r = await rowsByLine(fixture(`kernel-variants/${name}`));
  assert.equal(r.result.skippedLines, 0, name);
  assert.deepEqual(r.result.undecodedEvents, {}, name);
  return { ...r, list: [...r.rows.values()].map(present) };
}

test('4.19: sp text without l/ad, hex gen, invalidate_zap_all_pages, kvm_age_page, old kvm_exit/page_fault/entry', async () => {
  const { list, result } = await rows('v4.19.ftrace.txt');
  // sp gen 1a gfn 0 4 pae q0 wux nxe root 0 sync new
  assert.deepEqual(pick(list[0]!, SP), [0x1a, 0n, 4, 8, 0, false, 'wux', false, true, undefined, 0, false, true]);
  // sp gen 1a gfn 7f000 1 q1 direct wux invalid !nxe root 0 unsync
  assert.deepEqual(pick(list[2]!, SP), [0x1a, 0x7f000n, 1, 4, 1, true, 'wux', true, false, undefined, 0, true, undefined]);
  assert.deepEqual(pick(list[3]!, ['event', 'valid_gen', 'used_pages']), ['kvm_mmu_invalidate_zap_all_pages', 0x1b, 0x3f]);
  assert.deepEqual(pick(list[4]!, ['exit_reason', 'rip', 'info1', 'info2']), ['EPT_VIOLATION', 0xffffffff81000000n, 0x181n, 0n]);
  assert.deepEqual(pick(list[5]!, ['addr', 'error_code', 'vcpu']), [0xfee00000n, 6n, undefined]);
  assert.deepEqual(pick(list[7]!, ['vcpu', 'addr', 'error_code', 'old_spte', 'new_spte', 'spurious', 'fixed']),
    [0, 0xfee00000n, 6n, 0x8000000123456071n, 0x8000000123456073n, false, true]);
  assert.deepEqual(pick(list[8]!, ['hva_start', 'gfn', 'level', 'young', 'comm']), [0x7f5a12345000n, 0x12345n, 1, true, 'kswapd0']);
  assert.equal(list[0]!.flags, '...1');
  assert.equal(result.kernel.roleLayout, 'v4');
  assert.match(result.kernel.hints['sp-text']!.value, /v4\.19/);
  assert.match(result.kernel.hints['irq-flags']!.value, /4-character/);
  assert.ok(result.kernel.hints['zap-all'] && result.kernel.hints.kvm_age_page);
});

test('other 4.x: "l%u%s" level with pae, %sad', async () => {
  const { list } = await rows('v4.x.ftrace.txt');
  assert.deepEqual(pick(list[0]!, SP), [0xff, 0x100n, 4, 8, 0, false, 'wux', false, true, true, 0, false, true]);
  assert.deepEqual(pick(list[1]!, SP), [0xff, 0x101n, 1, 4, 2, false, 'wux', false, true, false, 0, true, undefined]);
  assert.equal(list[0]!.flags, undefined);
});

test('5.1-5.3: no generation in the sp text', async () => {
  const { list, result } = await rows('v5.1.ftrace.txt');
  assert.deepEqual(pick(list[0]!, SP), [undefined, 0n, 3, 4, 3, false, 'wux', false, true, true, 1, false, true]);
  assert.equal(result.kernel.roleLayout, 'v5.1');
});

test('6.1: TDP MMU zap with REMOVED_SPTE 0x5a0, split, MMIO, change_pte', async () => {
  const { list, result } = await rows('v6.1.ftrace.txt');
  assert.deepEqual(pick(list[4]!, ['event', 'as_id', 'gfn', 'level', 'old_spte', 'new_spte']),
    ['kvm_tdp_mmu_spte_changed', 0, 0n, 3, 0x2c583d907n, 0x5a0n]);
  assert.deepEqual(pick(list[5]!, ['gfn', 'spte', 'level', 'errno']), [0x40000n, 0x600000455299b77n, 2, 0]);
  assert.deepEqual(pick(list[6]!, ['error_code', 'sptep', 'old_spte']), [3n, 0x3ed1f3b4n, 0x600000455299b75n]);
  assert.deepEqual(pick(list[7]!, ['vcpu', 'exit_reason', 'rip', 'requests']), [0, 'EPT_MISCONFIG', 0xffffffff81034567n, undefined]);
  assert.deepEqual(pick(list[8]!, ['sptep', 'gfn', 'access_bits', 'mmio_gen']), [0x3ed1f3b4n, 0xfee00n, 6, 2]);
  assert.deepEqual(pick(list[9]!, ['addr', 'gfn', 'access_bits']), [0xfee00000n, 0xfee00n, 6]);
  assert.deepEqual(pick(list[10]!, ['spte', 'kvm_gen', 'mmio_gen', 'valid']), [0xfee00806n, 2, 2, true]);
  assert.deepEqual(pick(list[11]!, ['hva_start', 'comm', 'pid']), [0x7f5a12345000n, 'qemu-system-x86', 3999]);
  assert.equal(list[0]!.comm, 'CPU 0/KVM');
  assert.match(result.kernel.hints['tdp-frozen']!.value, /0x5a0 \(6\.1-6\.9/);
  assert.equal((await analyzeTrace(fixture('kernel-variants/v6.1.ftrace.txt'))).kernel.mmu, 'tdp');
  assert.ok(result.kernel.hints.kvm_set_spte_hva);
});

test('6.12: SHADOW_NONPRESENT_VALUE and FROZEN_SPTE with bit 63, 6.x kvm_page_fault and kvm_entry', async () => {
  const { list, result } = await rows('v6.12.ftrace.txt');
  assert.deepEqual(pick(list[0]!, ['gfn', 'level', 'old_spte', 'new_spte']), [0xffc00n, 2, 0x800000010bc97907n, 0x80000000000005a0n]);
  assert.equal(list[1]!.new_spte, 0x8000000000000000n);
  assert.deepEqual(pick(list[2]!, ['vcpu', 'rip', 'addr', 'error_code']), [1, 0xffffffff81034567n, 0xffc00000n, 0x181n]);
  assert.deepEqual(pick(list[3]!, ['vcpu', 'rip']), [1, 0xffffffff81034567n]);
  assert.match(result.kernel.hints['tdp-frozen']!.value, /bit63\|0x5a0/);
  assert.match(result.kernel.hints['tdp-nonpresent']!.value, /bit 63/);
});

test('7.2: four-letter access strings switch the role layout; spte_requested access; kvm_exit requests', async () => {
  const { list, result } = await rows('v7.2.ftrace.txt');
  assert.equal(list[0]!.access, 'rwux');
  assert.equal(result.kernel.roleLayout, 'v7.2');
  assert.equal(result.kernel.roleLayoutSource, 'text');
  assert.deepEqual(pick(list[1]!, ['gfn', 'pfn', 'level', 'access_bits']), [0x40000n, 0x123456n, 1, 0xf]);
  assert.match(result.kernel.hints['tdp-frozen']!.value, /0x1a0 \(7\.2\+\)/);
  assert.equal(list[3]!.requests, 1n);
  assert.deepEqual(pick(list[4]!, ['vcpu', 'rip', 'intr_info', 'error_code']), [0, 0xffffffff81034567n, 0, 0n]);
  // an event without a decoder keeps its payload
  assert.deepEqual(pick(list[5]!, ['event', 'payload']), ['kvm_vm_set_mem_attributes', '0x00000000040000 -- 0x00000000040200 [0x8]']);
});

test('one raw role word, three layouts (kvm-mmu-reference.md §2 worked example role=6018)', () => {
  // the real perf 6.1 line of §2/§7.4
  const line = '         python3 12593 [000]  1034.976781:         kvmmmu:kvm_mmu_get_page: [FAILED TO PARSE] mmu_valid_gen=0 gfn=262144 role=6018 root_count=0 unsync=0 created=1';
  const keys = ['gfn', 'role', 'level', 'gpte_bytes', 'direct', 'access', 'invalid', 'nxe', 'cr0_wp', 'ad', 'as_id'];
  const as = (layout: keyof typeof ROLE_LAYOUTS) => pick(fastParseLine('perf', line, new DecodeContext(ROLE_LAYOUTS[layout], 'option'))!, keys);
  // 5.17-7.1: the reference's decode: level 2, 8-byte, direct, wux, valid, nxe, cr0_wp 0, A/D on
  assert.deepEqual(as('v5.17'), [0x40000n, 6018, 2, 8, true, 'wux', false, true, false, true, 0]);
  // 5.1-5.16: bit 4 = 0 means 4-byte guest PTEs
  assert.deepEqual(as('v5.1'), [0x40000n, 6018, 2, 4, true, 'wux', false, true, false, true, 0]);
  // 7.2: "access=7 (rwu-) and invalid=1"
  assert.deepEqual(as('v7.2'), [0x40000n, 6018, 2, 8, true, 'rwu-', true, false, false, true, 0]);
});

test('2.6.3x: level/glevels and pge shadow-page text, the kernel\'s own and trace-cmd\'s old kvm plugin\'s (new|existing first, no gfn in zaps)', async () => {
  const kernel = await rows('v2.6.ftrace.txt');
  const plugin = await rows('v2.6-plugin.tracecmd.txt');
  // sp gfn 1c 1/4 q3 direct --x !pge !nxe root 6 sync existing: level 1, glevels 4 (8-byte guest PTEs)
  assert.deepEqual(pick(kernel.list[0]!, SP), [undefined, 0x1cn, 1, 8, 3, true, '--x', false, false, undefined, 6, false, false]);
  // sp gfn 7f000 2/2 q0 wux pge nxe root 0 unsync new: glevels 2 (32-bit paging, 4-byte PTEs)
  assert.deepEqual(pick(kernel.list[1]!, SP), [undefined, 0x7f000n, 2, 4, 0, false, 'wux', false, true, undefined, 0, true, true]);
  assert.deepEqual(pick(kernel.list[2]!, SP), [undefined, 0x1cn, 1, 8, 3, true, '--x', true, false, undefined, 0, false, undefined]);
  // the plugin prints the same fields; its zap has no gfn
  assert.deepEqual(plugin.list.map((r) => pick(r, SP)), kernel.list.map((r, k) => pick(k === 2 ? { ...r, gfn: undefined } : r, SP)));
  for (const { result } of [kernel, plugin]) assert.match(result.kernel.hints['sp-text']!.value, /2\.6\.3x/);
  // text only old kernels print selects the <=5.12 rules from the start (the head is read before the replay)
  const r = await analyzeTrace(fixture('kernel-variants/v2.6.ftrace.txt'));
  assert.deepEqual([r.model!.rules.set, r.model!.rules.source], ['<=5.12', 'trace']);
  assert.match(r.model!.rules.why, /2\.6\.3x/);
});
