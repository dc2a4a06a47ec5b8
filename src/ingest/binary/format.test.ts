// The format files and print fmts stored in the v6 fixture (this machine's 6.18 tracefs, every
// system): field layouts as the files state them, and the printed columns the print fmt gives for
// values the fixture's records do not hold (VMX/SVM exit reasons, FAILED_VMENTRY, KVM_EXIT_* and
// errno, fast_page_fault's ret), checked against the tables printed in the same format text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fixture } from '../../testing/fixtures.js';
import { DecodeContext } from '../context.js';
import { RecordWriter } from '../event-row.js';
import { MemorySource } from './bytes.js';
import type { EventFormat } from './format-file.js';
import { RecordDecoder, roleLayoutOfPrintFmt } from './record.js';
import { analyzeTrace } from '../../pipeline/analyze.js';
import { openTraceDat } from './trace-dat.js';

const td = openTraceDat(new MemorySource(gunzipSync(readFileSync(fixture('binary/mprotect.v6.trace.dat.gz')))));
const format = (system: string, name: string): EventFormat => [...td.formats.values()].find((f) => f.system === system && f.name === name)!;
const decoder = new RecordDecoder(td.formats, td.kallsyms, new DecodeContext());

/** A record of `f` with common_type set and the given fields written at their offsets. */
function record(f: EventFormat, size: number, fill: (b: Buffer, at: (field: string) => number) => void): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt16LE(f.id, 0);
  b.writeInt32LE(4242, 4); // common_pid
  fill(b, (name) => f.fields.find((x) => x.name === name)!.offset);
  return b;
}

function decode(data: Buffer): Record<string, unknown> {
  const w = new RecordWriter();
  decoder.write(data, w);
  return w.record;
}

test('format files: 2323 events of the stored systems, fields with offset, size, sign, arrays and __data_loc', () => {
  // trace-cmd dump --summary: 18 ftrace formats + the events of 101 systems
  assert.equal(td.formats.size, 2323);
  const spte = format('kvmmmu', 'kvm_mmu_set_spte');
  assert.deepEqual(spte.fields.map((x) => [x.name, x.offset, x.size, x.signed]),
    [['gfn', 8, 8, false], ['spte', 16, 8, false], ['sptep', 24, 8, false], ['level', 32, 1, false], ['r', 33, 1, false], ['x', 34, 1, false], ['u', 35, 1, true]]);
  assert.deepEqual(spte.common.map((x) => x.name), ['common_type', 'common_flags', 'common_preempt_count', 'common_pid']);
  const sw = format('sched', 'sched_switch').fields.find((x) => x.name === 'prev_comm')!;
  assert.deepEqual([sw.type, sw.arrayLength, sw.text, sw.loc], ['char', 16, true, null]);
  const exec = format('sched', 'sched_process_exec').fields.find((x) => x.name === 'filename')!;
  assert.deepEqual([exec.type, exec.offset, exec.size, exec.loc, exec.text], ['char[]', 8, 4, 'data', true]);
});

test('records: a __data_loc string and fields without a column kept as name=value', () => {
  const f = format('sched', 'sched_process_exec');
  const r = decode(record(f, 40, (b, at) => {
    // __data_loc: length << 16 | offset from the record start
    b.writeUInt32LE((10 << 16) | 24, at('filename'));
    b.write('/bin/true\0', 24);
    b.writeInt32LE(77, at('pid'));
    b.writeInt32LE(-1, at('old_pid'));
  }));
  assert.deepEqual(r, { grp: 'sched', event: 'sched_process_exec', payload: 'filename=/bin/true pid=77 old_pid=-1' });
  assert.equal(decoder.pid(record(f, 40, () => {})), 4242);
});

test('print fmt: kvm_exit reason names of VMX and SVM, FAILED_VMENTRY', () => {
  const f = format('kvm', 'kvm_exit');
  const exit = (isa: number, reason: number) => decode(record(f, 72, (b, at) => {
    b.writeUInt32LE(isa, at('isa'));
    b.writeUInt32LE(reason >>> 0, at('exit_reason'));
  }));
  // { 48, "EPT_VIOLATION" } (isa == 1), { 0x400, "npf" } (SVM), { 33, "INVALID_STATE" } | FAILED_VMENTRY (bit 31)
  assert.equal(exit(1, 48).exit_reason, 'EPT_VIOLATION');
  assert.equal(exit(2, 0x400).exit_reason, 'npf');
  assert.equal(exit(1, 0x80000021).exit_reason, 'INVALID_STATE FAILED_VMENTRY');
  // a value no entry names prints in hex (trace_print_symbols_seq)
  assert.equal(exit(2, 0x4242).exit_reason, '0x4242');
  assert.equal(exit(1, 48).reason_code, 48);
});

test('print fmt: kvm_userspace_exit restart and error from errno, else KVM_EXIT_*; fast_page_fault spurious/fixed from ret', () => {
  const f = format('kvm', 'kvm_userspace_exit');
  const ue = (reason: number, errno: number) => decode(record(f, 16, (b, at) => {
    b.writeUInt32LE(reason, at('reason'));
    b.writeInt32LE(errno, at('errno'));
  }));
  assert.deepEqual([ue(2, 0).exit_reason, ue(2, -4).exit_reason, ue(2, -14).exit_reason], ['KVM_EXIT_IO', 'restart', 'error']);
  assert.deepEqual([ue(2, -4).errno, ue(2, -4).reason_code], [-4, 2]);
  const fp = format('kvmmmu', 'fast_page_fault');
  // REC->ret == 6 (spurious), REC->ret == 5 (fixed)
  const fast = (ret: number) => decode(record(fp, 64, (b, at) => b.writeInt32LE(ret, at('ret'))));
  assert.deepEqual([fast(6).spurious, fast(6).fixed, fast(5).spurious, fast(5).fixed, fast(1).spurious], [true, false, false, true, false]);
  const mmio = format('kvmmmu', 'check_mmio_spte');
  const check = (a: number, b: number) => decode(record(mmio, 24, (buf, at) => {
    buf.writeUInt32LE(a, at('kvm_gen'));
    buf.writeUInt32LE(b, at('spte_gen'));
  }));
  assert.deepEqual([check(3, 3).valid, check(3, 4).valid], [true, false]);
});

test('the role layout comes from the kernel\'s own kvm_mmu_get_page print fmt', async () => {
  // 6.18: access_str of 3 letters, role.has_4_byte_gpte
  assert.equal(roleLayoutOfPrintFmt(format('kvmmmu', 'kvm_mmu_get_page').printFmt), 'v5.17');
  const r = await analyzeTrace(fixture('binary/mprotect.v6.trace.dat.gz'), { model: false });
  assert.deepEqual([r.kernel.roleLayout, r.kernel.roleLayoutSource], ['v5.17', 'text']);
  // v7.2's 16-entry table of 4 letters
  assert.equal(roleLayoutOfPrintFmt('"%s %s", ({ static const char *access_str[] = { "----", "---x", "r---" }; role.word = REC->role; })'), 'v7.2');
});
