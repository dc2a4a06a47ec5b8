// The fast path (head.ts scanners + decoders, as fastParseLine) against the ohm grammar
// (slow-path.ts): on every line of every fixture, on generated lines for the variants the fixtures
// lack and on seeded mutants of those, both must reject the line or both must build the same
// record. A line only the grammar accepts is a line the fast path drops; a line only the fast path
// accepts is syntax the grammar (the specification) does not know. The fast path must also give
// the same record when the line sits in a chunk with more text after it, as in the ingest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { inspect } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { DecodeContext } from './context.js';
import { EventRowWriter, RecordWriter, fastParseLine } from './event-row.js';
import { FORMAT_DIALECT, sniffFormat } from './sniff.js';
import { parseLineSlow } from './slow-path.js';
import { LineHead, SCANNERS, type Dialect } from './head.js';
import type { RowRecord } from './row.js';

const FIXTURES = new URL('../../../fixtures/', import.meta.url);
const DIALECTS: readonly Dialect[] = ['ftrace', 'trace-cmd', 'perf'];
/** Header, stack-frame, lost-events and blank lines: the ingest handles them before any scanner. */
const NOT_EVENT_LINE = /^(#|\s*$| => |CPU:\d+ \[|cpus=\d+$|version = \d+$)/;

/** Text after a line's newline that misleads a scanner or decoder which reads past the line's end. */
const NEXT_LINES = '\n success=1 CPU:000 ==> a:1 [2] (3) ip=x buf=y: z=0x1 [004] 5.6: e: f';

/** fastParseLine as the ingest runs it: on a span of a chunk, followed by its newline and more lines. */
function fastParseInChunk(dialect: Dialect, line: string): RowRecord | null {
  const chunk = line + NEXT_LINES;
  const h = new LineHead();
  if (!SCANNERS[dialect](chunk, 0, line.length, h)) return null;
  const w = new RecordWriter();
  new EventRowWriter(dialect, new DecodeContext()).write(h, chunk, line.length, 1, w);
  return w.record;
}

/** Asserts that both paths agree on `line`; returns the record if they accept it, null if both reject it. */
function agree(dialect: Dialect, line: string, where: string): RowRecord | null {
  const fastCtx = new DecodeContext();
  const slowCtx = new DecodeContext();
  const fast = fastParseLine(dialect, line, fastCtx);
  const slow = parseLineSlow(dialect, line, slowCtx);
  const show = `${where} (${dialect}):\n  ${line}\n  fast: ${inspect(fast)}\n  slow: ${inspect(slow)}`;
  assert.deepStrictEqual(fastParseInChunk(dialect, line), fast, `the fast path reads past the end of the line — ${show}`);
  if (fast === null) {
    assert.ok(!slow.ok, `the fast path rejects a line the grammar accepts — ${show}`);
    assert.match(slow.message, /^Expected /, show);
    assert.ok(Number.isInteger(slow.column) && slow.column! >= 1 && slow.column! <= line.length + 1, show);
    return null;
  }
  assert.ok(slow.ok, `the grammar rejects a line the fast path accepts — ${show}`);
  assert.deepStrictEqual(slow.record, fast, `records differ — ${show}`);
  // (the fast path may take the layout from a shadow-page text it then fails to decode; the grammar cannot)
  if (fast.payload === undefined) assert.equal(slowCtx.layout.name, fastCtx.layout.name, `role layout seen differs — ${show}`);
  return fast;
}

function fixtureFiles(dir: URL, rel = ''): string[] {
  return readdirSync(new URL(rel, dir), { withFileTypes: true }).flatMap((e) => {
    const path = `${rel}${e.name}`;
    if (e.isDirectory()) return fixtureFiles(dir, `${path}/`);
    return /\.txt(\.gz)?$/.test(e.name) ? [path] : [];
  });
}

for (const rel of fixtureFiles(FIXTURES)) {
  test(`fast path and grammar agree on every line of fixtures/${rel}`, (t) => {
    const raw = readFileSync(new URL(rel, FIXTURES));
    const text = (rel.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
    const sniff = sniffFormat(text.slice(0, 64 * 1024));
    // a file the ingest refuses (e.g. latency format) still has to agree, in every dialect
    const dialects = sniff.ok ? [FORMAT_DIALECT[sniff.format]] : DIALECTS;
    let compared = 0;
    let accepted = 0;
    text.split('\n').forEach((l, i) => {
      const line = l.endsWith('\r') ? l.slice(0, -1) : l;
      if (NOT_EVENT_LINE.test(line)) return;
      for (const d of dialects) {
        compared++;
        if (agree(d, line, `fixtures/${rel}:${i + 1}`)) accepted++;
      }
    });
    t.diagnostic(`${compared} lines compared (${dialects.join('/')}), ${accepted} accepted by both, ${compared - accepted} rejected by both`);
  });
}

// ---- generated lines: variants and corner cases the captured fixtures do not have
const FT = '    kvm-workload-3596    [001] .....   135.814086';
const TC = 'fx:     kvm-workload-4649  [000]   206.202449';
const PF = '    kvm-workload  4194/4197  [000]   165.443685';

/** Lines both paths must accept, decoding the payload (`undecoded`: kept as raw payload text). */
const ACCEPTED: readonly { d: Dialect; line: string; undecoded?: true }[] = [
  // shadow-page text variants
  { d: 'ftrace', line: `${FT}: kvm_mmu_get_page: sp gen 0 gfn 1 l4 8-byte q0 wux nxe ad root 0 sync new` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_prepare_zap_page: sp gen 3 gfn 41e00 l1 8-byte q0 direct wux invalid !nxe !ad root 2 unsync` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_sync_page: sp gen 4294967295 gfn 140 l1 4-byte q3 -u- nxe ad root 0 unsync` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_get_page: sp gfn 1f l2 4-byte q1 direct --- nxe ad root 1 sync existing` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_unsync_page: sp gfn 150 l1 8-byte q0 wux nxe !ad root 0 sync` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_get_page: sp gen a gfn 1f l2 pae q0 wux nxe ad root 0 sync new` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_prepare_zap_page: sp gen 1f gfn 3 l1 q1 w-x !nxe ad root 0 unsync` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_get_page: sp gen 1 gfn 40000 1 pae q0 direct wux nxe root 1 sync new` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_prepare_zap_page: sp gen 0 gfn 12 3 q2 -ux invalid !nxe root 0 unsync` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_get_page: sp gen 0 gfn 1 l4 8-byte q0 rwux nxe ad root 0 sync new` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_prepare_zap_page: sp gen 2 gfn bea l1 8-byte q0 direct r-ux invalid nxe ad root 0 sync` },
  // trace-cmd's kvm plugin text
  { d: 'trace-cmd', line: `${TC}: kvm_mmu_get_page:     new sp gfn 1 4 q0 wux !pae nxe wp root 0 sync` },
  { d: 'trace-cmd', line: `${TC}: kvm_mmu_get_page:     existing sp gfn bea 1 q3 direct --x invalid pae !nxe !wp smep smap root 2 unsync` },
  { d: 'trace-cmd', line: `${TC}: kvm_mmu_prepare_zap_page: 4 q0 wux invalid !pae nxe wp smm root 0 sync` },
  // heads: TGID, flags, clocks, instances, perf tid forms, comm with spaces, slashes and -digits
  { d: 'ftrace', line: '          <idle>-0       (-------) [000] d..2.  1417.142736: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=capture.sh next_pid=17589 next_prio=120' },
  { d: 'ftrace', line: '    kvm-workload-18956   (  18955) [001] ...1.  1723.795208: kvm_mmu_set_spte: gfn 80 spte 2fb333a25 (r-xu) level 1 at 104948400' },
  { d: 'ftrace', line: '    kvm-workload-3596    [001] d..1  135.814086: kvm_mmu_set_spte: gfn 90 spte 156776e67 (rwxu) level 1 at 1fdf09480' },
  { d: 'ftrace', line: '    kvm-workload-3681    [000]    142.809756: kvm_unmap_hva_range: mmu notifier unmap range: 0x007fe8b5000000 -- 0x007fe8b5800000' },
  { d: 'ftrace', line: '    kvm-workload-3596    [001] ..... 375199946511: kvm_mmu_spte_requested: gfn 80 pfn 2d0b67 level 1' },
  { d: 'ftrace', line: '    kvm-workload-3596    [001] .....   135.814086123: kvm_mmu_spte_requested: gfn 80 pfn 2d0b67 level 1 access 7' },
  { d: 'ftrace', line: '       CPU 0/KVM-4094    [000] ...1.   160.981234: kvm_mmu_paging_element: pte 2007 level 4' },
  { d: 'ftrace', line: ' kvm-nx-lpage-re-17971   [000] ...1.  1463.673005: kvm_mmu_set_accessed_bit: gpa 1000' },
  { d: 'ftrace', line: 'a-1 b(2)-3 [000] .....     0.1: kvm_mmu_set_dirty_bit: gpa 100480' },
  { d: 'ftrace', line: '-3 [000] .....     0.1: kvm_mmu_set_dirty_bit: gpa 100480' },
  { d: 'ftrace', line: `${FT}: <stack trace>` },
  { d: 'ftrace', line: `${FT}: UNKNOWN TYPE 5`, undecoded: true },
  { d: 'trace-cmd', line: `${TC}: kvm_unmap_hva_range:  mmu notifier unmap range: 0x007f1868200000 -- 0x007f1868a00000` },
  { d: 'trace-cmd', line: '     kvm-workload-4649  [000]   206.202449: kvm_age_hva:          mmu notifier age hva: 0x007f00cc88a000 -- 0x007f00cc88b000' },
  { d: 'trace-cmd', line: 'fx:     kvm-workload-4649  [000]206202448785: kvm_test_age_hva:     mmu notifier test age hva: 0x007f00cd8bb000' },
  { d: 'trace-cmd', line: `${TC}: print:                tracing_mark_write: kvm-workload tc phase=boot` },
  { d: 'trace-cmd', line: `${TC}: print:                 ip=tracing_mark_write buf=kvm-workload tc phase=boot` },
  { d: 'perf', line: `${PF}: kvmmmu:kvm_mmu_get_page: [FAILED TO PARSE] mmu_valid_gen=0 gfn=1 role=14084 root_count=0 unsync=0 created=1` },
  { d: 'perf', line: '    kvm-workload  4194 [000]   165.443494590: kvm:kvm_unmap_hva_range: mmu notifier unmap range: 0x007f3ae5c00000 -- 0x007f3ae6400000' },
  { d: 'perf', line: '       CPU 1/KVM 4195/4197 [001]  1727.131837:                 kvm:kvm_age_hva: mmu notifier age hva: 0x007f217b79c000 -- 0x007f217b79d000' },
  { d: 'perf', line: '             :-1    -1 [001]  1727.131837:            kvm:kvm_test_age_hva: mmu notifier test age hva: 0x007fcaef65b000' },
  // name=value fields: options/fields (with negative values), trace-cmd -R (bare hex), perf
  { d: 'ftrace', line: `${FT}: kvm_mmu_get_page: mmu_valid_gen=(0) gfn=0x40000 (262144) role=0x1782 (6018) root_count=0x0 (0) unsync=(0) created=(1)` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_split_huge_page: gfn=0x40000 (262144) spte=0x800000010bc97907 (-9223372032303958265) level=(2) errno=0xfffffff4 (-12)` },
  { d: 'ftrace', line: `${FT}: tlb_flush: pages=(-1) reason=0x3 (3)` },
  { d: 'perf', line: `${PF}: kvmmmu:kvm_mmu_split_huge_page: [FAILED TO PARSE] gfn=262144 spte=0x800000010bc97907 level=2 errno=-12` },
  { d: 'perf', line: `${PF}: tlb:tlb_flush: [FAILED TO PARSE] pages=-1 reason='c'(3) x=--5` },
  { d: 'trace-cmd', line: `${TC}: kvm_mmu_set_spte:      gfn=4000a spte=14e3a2a25 sptep=15d87a400 level=1 r=1 x=1 u=1` },
  { d: 'trace-cmd', line: `${TC}: kvm_mmu_prepare_zap_page:  mmu_valid_gen=0 gfn=320 role=14081 root_count=0 unsync=0` },
  // other kvmmmu events
  { d: 'ftrace', line: `${FT}: kvm_tdp_mmu_spte_changed: as id 0 gfn 40000 level 1 old_spte 800000010bc97907 new_spte 80000000000005a0` },
  { d: 'ftrace', line: `${FT}: kvm_tdp_mmu_spte_changed: as id 1 gfn 7fffffffff level 2 old_spte ffffffffffffffff new_spte 0` },
  { d: 'ftrace', line: `${FT}: fast_page_fault: vcpu 0 gva 7f1234567000 error_code P|W|U sptep ffff8881234567f8 old 0x8000000123456e77 new 8000000123456e77 spurious 0 fixed 1` },
  { d: 'ftrace', line: `${FT}: fast_page_fault: vcpu 3 gva 1000 error_code  sptep 0 old 0x0 new 0 spurious 1 fixed 0` },
  { d: 'ftrace', line: `${FT}: fast_page_fault: vcpu 3 gva 1000 error_code RSVD|PK|SGX|0x100000000 sptep 0 old 0x0 new 0 spurious 1 fixed 0` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_split_huge_page: gfn 40000 spte 8000000101a00bf7 level 2 errno -12` },
  { d: 'ftrace', line: `${FT}: mark_mmio_spte: sptep:ffff888102345678 gfn fee00 access 6 gen 3` },
  { d: 'ftrace', line: `${FT}: handle_mmio_page_fault: addr:fee00000 gfn fee00 access 6` },
  { d: 'ftrace', line: `${FT}: check_mmio_spte: spte 6000000fee00067 kvm_gen 3 spte-gen 3 valid 1` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_zap_all_fast: kvm-mmu-valid-gen 1 used_pages aad` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_invalidate_zap_all_pages: kvm-mmu-valid-gen 1f used_pages 20` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_pagetable_walk: addr 80000 pferr 14 U|F` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_pagetable_walk: addr 67066 pferr 0 ` },
  { d: 'ftrace', line: `${FT}: kvm_mmu_walker_error: pferr 6 W|U` },
  { d: 'ftrace', line: `${FT}: kvm_set_spte_hva: mmu notifier set pte hva: 0x007fab84813000` },
  { d: 'ftrace', line: `${FT}: kvm_age_page: hva 7f0000001000 gfn 1 level 1 YOUNG` },
  { d: 'ftrace', line: `${FT}: kvm_age_page: hva 7f0000001000 gfn 1 level 2 OLD` },
  // vCPU events
  { d: 'ftrace', line: `${FT}: kvm_exit: vcpu 0 reason EPT_VIOLATION rip 0xffffffff81000000 info1 0x0000000000000184 info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000` },
  { d: 'ftrace', line: `${FT}: kvm_exit: vcpu 1 reason EXTERNAL_INTERRUPT rip 0xffffffff81000000 info1 0x0000000000000000 info2 0x0000000000000000 intr_info 0x800000ec error_code 0x00000000 requests 0x0000000000000100` },
  { d: 'ftrace', line: `${FT}: kvm_exit: reason EPT_MISCONFIG rip 0x133025 info1 0x0000000000000000 info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000` },
  { d: 'trace-cmd', line: `${TC}: kvm_exit:             reason EPT_MISCONFIG rip 0x133025 info 0 0` },
  { d: 'ftrace', line: `${FT}: kvm_entry: vcpu 0` },
  { d: 'ftrace', line: `${FT}: kvm_entry: vcpu 1, rip 0xffffffff81234567` },
  { d: 'ftrace', line: `${FT}: kvm_entry: vcpu 1, rip 0xfff intr_info 0x80000b0e error_code 0x00000000` },
  { d: 'ftrace', line: `${FT}: kvm_entry: vcpu 1, rip 0xfff intr_info 0x00000000 error_code 0x00000000[immediate exit]` },
  // 6.1 (tdp-nested/tdp-mixed): "[immediate exit]" right after rip
  { d: 'ftrace', line: `${FT}: kvm_entry: vcpu 0, rip 0x80174[immediate exit]` },
  { d: 'ftrace', line: `${FT}: kvm_page_fault: vcpu 0 rip 0xffffffff81000000 address 0x0000000000fee000 error_code 0x181` },
  { d: 'ftrace', line: `${FT}: kvm_page_fault: address fee000 error_code 181` },
  { d: 'ftrace', line: `${FT}: kvm_userspace_exit: reason KVM_EXIT_IO (2)` },
  { d: 'ftrace', line: `${FT}: kvm_userspace_exit: reason restart (-4) (-4)` },
  // host context
  { d: 'ftrace', line: `${FT}: tlb_flush: pages:-1 reason:remote IPI send (4)` },
  { d: 'trace-cmd', line: `${TC}: tlb_flush:            pages=1 reason=local mm shootdown (3)` },
  { d: 'ftrace', line: `${FT}: sched_wakeup: comm=capture.sh pid=19333 prio=120 success=1 target_cpu=000` },
  { d: 'trace-cmd', line: `${TC}: sched_switch:         swapper/0:0 [120] R ==> capture.sh:17669 [120]` },
  { d: 'trace-cmd', line: `${TC}: sched_switch:         a:b [c]:1 [120] [9] R+ ==> kworker/0:2:116 [120]` },
  { d: 'trace-cmd', line: `${TC}: sched_wakeup:         kworker/0:2:116 [120] CPU:000` },
  { d: 'trace-cmd', line: `${TC}: sched_wakeup:         rcu_preempt:15 [120] success=1 CPU:001` },
  { d: 'ftrace', line: `${FT}: tracing_mark_write: kvm-workload aging phase=boot` },
  // payloads no variant matches, and events without a decoder: kept as text
  { d: 'ftrace', line: `${FT}: kvm_exit: reason EPT_VIOLATION`, undecoded: true },
  { d: 'ftrace', line: `${FT}: kvm_mmu_get_page: sp gen 0 gfn 1 l4 8-byte q0 wux nxe ad root 0 sync`, undecoded: true },
  { d: 'ftrace', line: `${FT}: kvm_mmu_spte_requested: gfn 80 pfn 2d0b67 level 1000000000000000`, undecoded: true },
  { d: 'ftrace', line: `${FT}: kvm_mmu_set_spte: gfn 10000000000000000 spte 1 (r) level 1 at 1`, undecoded: true },
  { d: 'ftrace', line: `${FT}: ksm_remove_ksm_page: pfn 1898199`, undecoded: true },
  { d: 'ftrace', line: `${FT}: kvm_exit:`, undecoded: true },
];

test('fast path and grammar agree on generated lines of every variant', () => {
  for (const { d, line, undecoded } of ACCEPTED) {
    const record = agree(d, line, 'generated');
    assert.ok(record, `both paths reject a line they should take (${d}):\n  ${line}`);
    const event = record.event as string;
    assert.equal(record.payload !== undefined && event !== 'tracing_mark_write', undecoded === true, `payload decoded or not as expected:\n  ${line}\n  ${inspect(record)}`);
  }
});

/** Text the mutants get spliced in: the separators and words the scanners and decoders branch on. */
const PIECES = [
  ' ', '-', ':', ': ', ' [1] ', '[', ']', '(', ')', ' (', '0x', '0X', '=', '!', '|', '-1', '.', 'f', 'l', "'",
  '99999999999999999999', '(-------)', '<stack trace>', 'UNKNOWN TYPE ', ' ==> ', ' success=1', ' CPU:', 'ip=', ' buf=',
  '[FAILED TO PARSE] ', ' pae', ' 8-byte', ' direct', ' invalid', 'unsync', ' new', 'RSVD|',
];

test('fast path and grammar agree on mutants of the generated lines', (t) => {
  // mulberry32 with a fixed seed: the same mutants on every run
  let seed = 0x5eed;
  const random = (n: number): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 2 ** 32) * n);
  };
  let accepted = 0;
  for (let k = 0; k < 3000; k++) {
    const { d, line } = ACCEPTED[random(ACCEPTED.length)]!;
    let mutant = line;
    for (let m = 1 + random(3); m > 0; m--) {
      const i = random(mutant.length + 1);
      const other = ACCEPTED[random(ACCEPTED.length)]!.line;
      const j = random(other.length);
      mutant = [
        mutant.slice(0, i) + mutant.slice(i + 1 + random(3)),
        mutant.slice(0, i) + PIECES[random(PIECES.length)] + mutant.slice(i),
        mutant.slice(0, i) + other.slice(j, j + 1 + random(12)) + mutant.slice(i),
        mutant.slice(0, i),
      ][random(4)]!;
    }
    if (agree(d, mutant, `mutant ${k}`)) accepted++;
  }
  t.diagnostic(`3000 mutants, ${accepted} accepted by both`);
});

test('fast path and grammar agree on lines that are not trace lines', () => {
  const lines = [
    '    kvm-workload-3596    [001] .....   135.81',
    '    kvm-workload-3596    [001] .....   135.814086: kvm_unmap_hva_ran',
    '    kvm-workload-3596    [001] .....   135.814086:kvm_unmap_hva_range: x',
    ' .....   135.814086: kvm_unmap_hva_range: mmu notifier unmap range: 0x007fe8b5000000 -- 0x007fe8b5800000',
    'kvm-work-3779      0..... 17633us!: kvm_unmap_hva_range: mmu notifier unmap range: 0x007f1868200000 -- 0x007f1868a00000',
    // the first " [digits] " is the CPU field
    'a-1 [2] b-3 [000] .....     0.1: kvm_entry: vcpu 0',
    '    kvm-workload-3596    (abc) [001] .....   135.814086: kvm_entry: vcpu 0',
    '    kvm-workload-3596    [001] .....   135.1234567890: kvm_entry: vcpu 0',
    '    kvm-workload-3596    [001] ..... 99999999999999999999: kvm_entry: vcpu 0',
    '    kvm-workload-3596    [001] ..... 4294967296.000001: kvm_entry: vcpu 0',
    '    kvm-workload  41x4 [000]   165.443494590: kvm:kvm_entry: vcpu 0',
    '    kvm-workload  4194/41x7 [000]   165.443494590: kvm:kvm_entry: vcpu 0',
    '    kvm-workload  4194/ [000]   165.443494590: kvm:kvm_entry: vcpu 0',
    '    kvm-workload  -0 [000]   165.443494590: kvm:kvm_entry: vcpu 0',
    '4194 [000]   165.443494590: kvm:kvm_entry: vcpu 0',
    // function tracer lines: cut, a space in a name, no arrow, trace-cmd's arrow in ftrace text
    '    kvm-workload-273     [001] ...1.     9.184821: kvm_flush_remote_tlbs <-',
    '    kvm-workload-273     [001] ...1.     9.184821: kvm_flush_remote_tlbs <-a b',
    '    kvm-workload-273     [001] ...1.     9.184821: kvm_flush_remote_tlbs caller',
    '    kvm-workload-273     [001] ...1.     9.184821: kvm_flush_remote_tlbs <-- caller',
    '    kvm-workload-273     [001] ...1.     9.184821:  <-caller',
    ' kvm-workload-273  [001]  9.184821: function:             kvm_flush_remote_tlbs <-- kvm_mmu_notifier_invalidate_range_start',
    'hello world',
    '',
  ];
  for (const line of lines) for (const d of DIALECTS) agree(d, line, 'broken');
});

test('the grammar says what it expected, and where', () => {
  const cases: [Dialect, string, RegExp, number][] = [
    // cut in the timestamp: the ": " after it is missing
    ['ftrace', '    kvm-workload-3596    [001] .....   135.81', /^Expected ": "$/, 46],
    // cut in the event name (or in a function tracer line: `func <-parent`)
    ['ftrace', '    kvm-workload-3596    [001] .....   135.814086: kvm_unmap_hva_ran', /^Expected " <-" or ":"$/, 69],
    // a function tracer line without its caller
    ['ftrace', '    kvm-workload-3596    [001] ...1.   135.814086: kvm_flush_remote_tlbs <-', /^Expected any character$/, 76],
    // trace_pipe's partial first line: no task and CPU field
    ['ftrace', ' .....   135.814086: kvm_unmap_hva_range: mmu', /^Expected a -PID before a CPU field/, 46],
    // seconds that do not fit 32 bits
    ['ftrace', '    kvm-workload-3596    [001] ..... 4294967296.000001: kvm_entry: vcpu 0', /^Expected a timestamp/, 38],
    ['perf', 'garbage', /^Expected a TID or PID\/TID before a CPU field/, 8],
  ];
  for (const [d, line, message, column] of cases) {
    const r = parseLineSlow(d, line);
    assert.ok(!r.ok, line);
    assert.match(r.message, message, line);
    assert.equal(r.column, column, `${line}: ${r.message}`);
  }
});
