// One binary tracepoint record → one `events` row, by the event's format: every field through the
// raw `name=value` path's table (rawFieldTarget: same columns, same role decoding), and the columns
// the text decoders read from the printed text (reason names, permission letters, task states,
// comms, marker text) from the print fmt's arguments, so the row equals the one of the event's text.
import { C } from '../schema.js';
import { rawFieldTarget } from '../decoders/raw-fields.js';
import { ROLE_LAYOUTS, writeRole, type RoleLayoutName } from '../role.js';
import type { DecodeContext } from '../context.js';
import type { RowSink } from '../event-row.js';
import { halves, readInt } from './bytes.js';
import { fieldOf, type EventFormat, type FieldFormat } from './format-file.js';
import { PrintFmt, type PrintArg, type Value } from './print-fmt.js';
import type { Kallsyms } from './tracing-meta.js';

/** Columns a text decoder takes from the printed text: the label before the conversions in the format string. */
const PRINTED: Readonly<Record<string, readonly { label: string; col: number; kind: 'str' | 'bool' }[]>> = {
  kvm_mmu_set_spte: [{ label: ' (', col: C.perm, kind: 'str' }],
  kvm_exit: [{ label: 'reason ', col: C.exit_reason, kind: 'str' }],
  kvm_userspace_exit: [{ label: 'reason ', col: C.exit_reason, kind: 'str' }],
  tlb_flush: [{ label: 'reason:', col: C.flush_reason, kind: 'str' }],
  sched_switch: [{ label: 'prev_state=', col: C.prev_state, kind: 'str' }],
  check_mmio_spte: [{ label: 'valid ', col: C.valid, kind: 'bool' }],
  fast_page_fault: [{ label: 'spurious ', col: C.spurious, kind: 'bool' }, { label: 'fixed ', col: C.fixed, kind: 'bool' }],
};

/** Text fields (char arrays) the text decoders put into columns. */
const TEXT_FIELDS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  sched_switch: { prev_comm: C.prev_comm, next_comm: C.next_comm },
  sched_wakeup: { comm: C.next_comm },
};

/** The ftrace print event (trace_marker writes): named by the function at `ip`, its text is `buf`. */
const PRINT_EVENT = 'print';

interface Plan {
  readonly format: EventFormat;
  readonly name: string;
  readonly pid: FieldFormat | undefined;
  readonly mapped: { f: FieldFormat; col: number; kind: 'u64' | 'int' | 'bool' | 'role' }[];
  readonly text: { f: FieldFormat; col: number }[];
  readonly printed: { col: number; kind: 'str' | 'bool'; args: PrintArg[] }[];
  /** Fields with no column, kept as `name=value` text in payload (as the raw path keeps them). */
  readonly rest: FieldFormat[];
  /** Columns of PRINTED the print fmt could not give (reported once as a hint). */
  readonly missing: string[];
}

export type RecordOutcome = 'decoded' | 'no-format' | 'short';

export class RecordDecoder {
  private readonly plans = new Map<number, Plan | null>();
  private readonly typeField: { offset: number; size: number };

  constructor(private readonly formats: ReadonlyMap<number, EventFormat>, private readonly kallsyms: Kallsyms,
    private readonly ctx: DecodeContext, private readonly little = true) {
    // every format shares the common header; common_type names the event
    const any = formats.values().next().value as EventFormat | undefined;
    const t = any ? fieldOf(any, 'common_type') : undefined;
    this.typeField = t ? { offset: t.offset, size: t.size } : { offset: 0, size: 2 };
    const sp = [...formats.values()].find((f) => f.name === 'kvm_mmu_get_page');
    const layout = sp ? roleLayoutOfPrintFmt(sp.printFmt) : null;
    if (layout) {
      ctx.layoutSeen(layout);
      ctx.hint('role-layout', `kvm_mmu_get_page's print fmt decodes the role as ${layout} (${ROLE_LAYOUTS[layout].kernels})`);
    }
  }

  /** The record's event id (common_type), or -1 if the record is too short to hold it. */
  eventId(data: Buffer): number {
    const { offset, size } = this.typeField;
    return data.length < offset + size ? -1 : Number(readInt(data, offset, size, false, this.little));
  }

  /** The record's common_pid, or -1. */
  pid(data: Buffer): number {
    const p = this.plan(this.eventId(data))?.pid;
    return p && data.length >= p.offset + p.size ? Number(readInt(data, p.offset, p.size, true, this.little)) : -1;
  }

  private plan(id: number): Plan | null {
    let p = this.plans.get(id);
    if (p === undefined) {
      const f = this.formats.get(id);
      p = f ? makePlan(f) : null;
      this.plans.set(id, p);
      if (p && p.missing.length > 0) this.ctx.hint(`print-fmt.${p.name}`, `${p.name}: print fmt gives no ${p.missing.join(', ')}`);
    }
    return p;
  }

  /** Writes grp, event and the payload columns of the record (the caller writes the header columns). */
  write(data: Buffer, w: RowSink): { name: string; outcome: RecordOutcome } {
    const id = this.eventId(data);
    const plan = this.plan(id);
    if (plan === null) {
      w.str(C.event, 'unknown');
      w.str(C.payload, `event id ${id} has no format in the file`);
      return { name: 'unknown', outcome: 'no-format' };
    }
    const f = plan.format;
    let name = plan.name;
    const value = (field: FieldFormat): Value | undefined => fieldValue(data, field, this.little);
    if (name === PRINT_EVENT) {
      // trace-cmd and ftrace print it as "<ip symbol>: <buf>" and the text path names the event by the symbol
      const ip = fieldOf(f, 'ip');
      const buf = fieldOf(f, 'buf');
      const sym = ip ? this.kallsyms.lookup(BigInt.asUintN(64, value(ip) as bigint)) : undefined;
      if (sym !== undefined && buf) {
        name = sym;
        const text = (value(buf) as string | undefined) ?? '';
        w.str(C.grp, f.system);
        w.str(C.event, name);
        w.str(C.payload, text.endsWith('\n') ? text.slice(0, -1) : text);
        return { name, outcome: 'decoded' };
      }
    }
    w.str(C.grp, f.system);
    w.str(C.event, name);
    for (const m of plan.mapped) {
      if (data.length < m.f.offset + m.f.size) return { name, outcome: 'short' };
      const v = readInt(data, m.f.offset, m.f.size, m.f.signed, this.little);
      if (m.kind === 'u64') {
        const { hi, lo } = halves(v);
        w.u64(m.col, hi, lo);
      } else if (m.kind === 'int') w.int(m.col, Number(BigInt.asIntN(32, v)));
      else if (m.kind === 'bool') w.bool(m.col, v !== 0n);
      else writeRole(w, Number(BigInt.asUintN(32, v)), 0xffffffff, this.ctx.layout);
    }
    for (const t of plan.text) {
      const s = value(t.f);
      if (typeof s === 'string') w.str(t.col, s);
    }
    const rec = (n: string): Value | undefined => {
      const fld = fieldOf(f, n);
      return fld ? value(fld) : undefined;
    };
    for (const p of plan.printed) {
      const parts = p.args.map((a) => a.value(rec));
      if (parts.some((x) => x === undefined)) continue;
      if (p.kind === 'bool') w.bool(p.col, parts[0] !== 0n);
      else w.str(p.col, parts.join(''));
    }
    if (plan.rest.length > 0) w.str(C.payload, plan.rest.map((x) => `${x.name}=${show(value(x), x)}`).join(' '));
    return { name, outcome: 'decoded' };
  }
}

/**
 * The role layout the kernel's own shadow-page print fmt (mmutrace.h KVM_MMU_PAGE_PRINTK) uses: a
 * 16-entry access_str of 4 letters is v7.2's; else the name of bit 4 tells (kvm-mmu-reference.md
 * §2): has_4_byte_gpte 5.17+, gpte_is_8_bytes 5.1-5.16, cr4_pae before.
 */
export function roleLayoutOfPrintFmt(printFmt: string): RoleLayoutName | null {
  if (/access_str\[\] = \{ "[-rwux]{4}"/.test(printFmt)) return 'v7.2';
  if (printFmt.includes('role.has_4_byte_gpte')) return 'v5.17';
  if (printFmt.includes('role.gpte_is_8_bytes')) return 'v5.1';
  if (printFmt.includes('role.cr4_pae')) return 'v4';
  return null;
}

function makePlan(format: EventFormat): Plan {
  const name = format.name;
  const printed: Plan['printed'] = [];
  const missing: string[] = [];
  const pf = PRINTED[name];
  if (pf) {
    const fmt = new PrintFmt(format.printFmt);
    for (const p of pf) {
      const args = fmt.argsAfter(p.label);
      if (args && args.length > 0) printed.push({ col: p.col, kind: p.kind, args });
      else missing.push(p.label.trim());
    }
  }
  const textCols = TEXT_FIELDS[name] ?? {};
  const mapped: Plan['mapped'] = [];
  const text: Plan['text'] = [];
  const rest: FieldFormat[] = [];
  // fields the printed columns are made of are not left over
  const printedFields = new Set(printed.flatMap((p) => p.args.flatMap((a) => a.fields)));
  for (const f of format.fields) {
    const col = textCols[f.name];
    if (col !== undefined && f.text) {
      text.push({ f, col });
      continue;
    }
    const t = f.arrayLength === null && f.loc === null && [1, 2, 4, 8].includes(f.size) ? rawFieldTarget(name, f.name) : undefined;
    if (t === undefined) {
      if (!printedFields.has(f.name)) rest.push(f);
    } else if (t.kind !== 'skip') mapped.push({ f, col: t.col, kind: t.kind });
  }
  return { format, name, pid: fieldOf(format, 'common_pid'), mapped, text, printed, rest, missing };
}

/** A field's value: integers sign-extended as declared, char arrays and __data_loc strings as text. */
function fieldValue(data: Buffer, f: FieldFormat, little: boolean): Value | undefined {
  let at = f.offset;
  let len = f.size;
  if (f.loc !== null) {
    if (data.length < f.offset + 4) return undefined;
    // __data_loc: u32 with the data's offset (low 16 bits) and length (high 16); __rel_loc counts from the field's end
    const loc = little ? data.readUInt32LE(f.offset) : data.readUInt32BE(f.offset);
    at = (loc & 0xffff) + (f.loc === 'rel' ? f.offset + 4 : 0);
    len = loc >>> 16;
  } else if (f.arrayLength === 0) len = data.length - f.offset;
  if (at + len > data.length) return undefined;
  if (f.text) {
    const s = data.subarray(at, at + len);
    const nul = s.indexOf(0);
    return s.toString('utf8', 0, nul < 0 ? s.length : nul);
  }
  if (f.arrayLength !== null || f.loc !== null || ![1, 2, 4, 8].includes(len)) return undefined;
  return readInt(data, at, len, f.signed, little);
}

/** A leftover field as text: 8-byte unsigned values in hex, other integers in decimal, arrays as bytes. */
function show(v: Value | undefined, f: FieldFormat): string {
  if (v === undefined) return 'ARRAY[]';
  if (typeof v === 'string') return v;
  return f.size === 8 && !f.signed ? `0x${BigInt.asUintN(64, v).toString(16)}` : v.toString();
}
