// The two kernel axes: flush/lock rules and SPTE layout, each with the kernel range it holds for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agingFlushes, agingLockless, notifierLockElided, rulesFromOption, KernelView } from './kernel-version.js';
import { isMmuWritable, leafUpdateNeedsFlush } from './spte.js';

/** An EPT leaf (RWX, WB, A, D, present) with MMU-writable at bit 58 (6.1-6.18) or 55 (7.x). */
const EPT_LO = 0x00000b77;
const BIT58 = 1 << 26;
const BIT55 = 1 << 23;

test('EPT MMU-writable is bit 58 up to 6.18 (spte.h), bit 55 in the 7.x layout', () => {
  for (const [version, bit] of [['6.1', BIT58], ['6.12', BIT58], ['6.13', BIT58], ['6.18', BIT58], ['7.2', BIT55]] as const) {
    const k = new KernelView(rulesFromOption(version));
    k.layout.ept = true;
    assert.equal(isMmuWritable(k.layout, bit, EPT_LO), true, version);
    assert.equal(isMmuWritable(k.layout, bit === BIT58 ? BIT55 : BIT58, EPT_LO), false, version);
  }
});

test('rules by kernel range: lock elision from 5.13, no aging flush from 6.13, lockless aging from 6.15', () => {
  const at = (v: string): [boolean, boolean, boolean] => {
    const { set } = rulesFromOption(v);
    return [notifierLockElided(set), agingFlushes(set), agingLockless(set)];
  };
  assert.deepEqual(at('5.10'), [false, true, false]);
  assert.deepEqual(at('5.15'), [true, true, false]);
  assert.deepEqual(at('6.0'), [true, true, false]);
  assert.deepEqual(at('6.12.117'), [true, true, false]);
  assert.deepEqual(at('6.13'), [true, false, false]);
  assert.deepEqual(at('6.15'), [true, false, true]);
  assert.deepEqual(at('7.2'), [true, false, true]);
});

test('a D-only clear of a present leaf needs a flush up to 6.12 (mmu_spte_update), not from 6.13 (leaf_spte_change_needs_tlb_flush)', () => {
  for (const [version, flush] of [['6.12', true], ['6.13', false]] as const) {
    const k = new KernelView(rulesFromOption(version));
    // x86 PTE: P W U A D + MMU-present (bit 11) + MMU-writable (bit 10); D (bit 6) cleared
    assert.equal(leafUpdateNeedsFlush(k.layout, 0, 0x1234e67, 0, 0x1234e27), flush, version);
  }
});

test('frozen SPTE values name the layout; only 6.1 and 7.x pin the rules down', () => {
  const seen = (hi: number, lo: number): KernelView => {
    const k = new KernelView();
    k.detectVersion(hi, lo);
    return k;
  };
  assert.deepEqual([seen(0, 0x5a0).rules.set, seen(0, 0x5a0).layout.gen], ['5.13-6.12', '6.1-6.9']);
  assert.deepEqual([seen(0x80000000, 0x5a0).rules.set, seen(0x80000000, 0x5a0).rules.source, seen(0x80000000, 0x5a0).layout.gen], ['>=6.18', 'default', '6.10-6.18']);
  assert.deepEqual([seen(0x80000000, 0x1a0).rules.set, seen(0x80000000, 0x1a0).layout.gen], ['>=6.18', '>=7.0']);
  // --kernel wins over the trace
  const k = new KernelView(rulesFromOption('6.12'));
  k.detectVersion(0x80000000, 0x1a0);
  assert.deepEqual([k.rules.set, k.layout.gen], ['5.13-6.12', '6.10-6.18']);
});

test('a non-present TDP SPTE of 0 shows 6.9 or older at once; bit 63 (6.10+) pins nothing down', () => {
  const k = new KernelView();
  k.detectVersion(0, 0);
  assert.deepEqual([k.rules.set, k.rules.source, k.layout.gen], ['5.13-6.12', 'trace', '6.1-6.9']);
  // the frozen value seen later agrees, and names itself as the reason
  k.detectVersion(0, 0x5a0);
  assert.match(k.rules.why, /^frozen SPTE value 5a0/);
  const later = new KernelView();
  later.detectVersion(0x80000000, 0);
  assert.deepEqual([later.rules.set, later.rules.source], ['>=6.18', 'default']);
  const opt = new KernelView(rulesFromOption('6.12'));
  opt.detectVersion(0, 0);
  assert.equal(opt.rules.source, 'option');
});

test('events only old kernels print select the <=5.12 rules (not the newest, silently): kvm_age_page, kvm_mmu_invalidate_zap_all_pages; --kernel still wins', async () => {
  const { analyzeTrace } = await import('../pipeline/analyze.js');
  const { fixture } = await import('../testing/fixtures.js');
  const { readFileSync, writeFileSync, mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  // the hand-made 4.19 text (its header says how it was made): its head's shadow-page text decides before the replay
  const r = await analyzeTrace(fixture('kernel-variants/v4.19.ftrace.txt'));
  assert.deepEqual([r.model!.rules.set, r.model!.rules.spteGen, r.model!.rules.why],
    ['<=5.12', '<=6.0', 'shadow-page text variant v4.19 (line 17; kernels up to 5.0): <=5.12 rules and the <=6.0 SPTE layout assumed (pass --kernel to choose)']);
  // the same events after 70 KiB of header lines (past the head that is read first): the replay learns it from the events
  const lines = readFileSync(fixture('kernel-variants/v4.19.ftrace.txt'), 'utf8').split('\n');
  const late = join(mkdtempSync(join(tmpdir(), 'mmu-trace-old-')), 'late.txt');
  writeFileSync(late, [lines[0], ...Array.from({ length: 1000 }, () => `# ${'-'.repeat(70)}`), ...lines.slice(1)].join('\n'));
  const l = await analyzeTrace(late);
  assert.deepEqual([l.model!.rules.set, l.model!.rules.why],
    ['<=5.12', 'kvm_mmu_invalidate_zap_all_pages events (kernels up to 5.0 only): <=5.12 rules and the <=6.0 SPTE layout assumed (pass --kernel to choose)']);
  const given = await analyzeTrace(fixture('kernel-variants/v4.19.ftrace.txt'), { model: { rules: rulesFromOption('6.1') } });
  assert.equal(given.model!.rules.set, '5.13-6.12');
  // a 6.1 trace stays as it was
  const v61 = await analyzeTrace(fixture('kernel-variants/v6.1.ftrace.txt'));
  assert.notEqual(v61.model!.rules.set, '<=5.12');
});
