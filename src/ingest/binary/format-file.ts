// A tracepoint's `format` file (tracefs events/<system>/<event>/format, stored verbatim in trace.dat
// and in perf.data's tracing data): its id, its fields' layout, and its print fmt.
//   name: kvm_mmu_set_spte
//   ID: 119
//   format:
//   	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
//   	...
//   print fmt: "gfn %llx ...", REC->gfn, ...
import { corrupt } from './bytes.js';

export interface FieldFormat {
  readonly name: string;
  /** The C declaration before the name, e.g. `unsigned long`, `char`, `__data_loc char[]`. */
  readonly type: string;
  readonly offset: number;
  readonly size: number;
  readonly signed: boolean;
  /** Element count of `name[N]` (0 for `name[]`), null when not an array. */
  readonly arrayLength: number | null;
  /** `__data_loc` (offset:16 | length:16 of the data, from the record start) or `__rel_loc` (from the field's end). */
  readonly loc: 'data' | 'rel' | null;
  /** A char array or string: decoded as text. */
  readonly text: boolean;
}

export interface EventFormat {
  readonly system: string;
  readonly name: string;
  readonly id: number;
  /** The `common_*` fields (type, flags, preempt count, pid). */
  readonly common: readonly FieldFormat[];
  readonly fields: readonly FieldFormat[];
  readonly printFmt: string;
}

const FIELD_RE = /^\s*field:(.*?);\s*offset:(\d+);\s*size:(\d+);\s*(?:signed:(\d+);)?/;

function parseField(decl: string, offset: number, size: number, signed: boolean): FieldFormat {
  let d = decl.trim();
  let loc: FieldFormat['loc'] = null;
  if (d.startsWith('__data_loc ')) {
    loc = 'data';
    d = d.slice('__data_loc '.length);
  } else if (d.startsWith('__rel_loc ')) {
    loc = 'rel';
    d = d.slice('__rel_loc '.length);
  }
  const m = /^(.*?)\s*\b(\w+)\s*(?:\[(\w*)\])?$/.exec(d);
  // `__data_loc char[] name`: the brackets belong to the type
  const typed = /^(.*?)\[\]\s+(\w+)$/.exec(d);
  let type: string;
  let name: string;
  let arrayLength: number | null = null;
  if (typed) {
    type = `${typed[1]!.trim()}[]`;
    name = typed[2]!;
    arrayLength = 0;
  } else if (m) {
    type = m[1]!.trim();
    name = m[2]!;
    if (m[3] !== undefined) arrayLength = m[3] === '' ? 0 : /^\d+$/.test(m[3]) ? Number(m[3]) : size;
  } else {
    type = d;
    name = d;
  }
  const text = /\bchar\b/.test(type) && (arrayLength !== null || loc !== null);
  return { name, type, offset, size, signed, arrayLength, loc, text };
}

/** The `field:...;` lines of a format file (also of events/header_page). */
export function parseFieldLines(text: string): FieldFormat[] {
  const out: FieldFormat[] = [];
  for (const line of text.split('\n')) {
    const m = FIELD_RE.exec(line);
    if (m) out.push(parseField(m[1]!, Number(m[2]), Number(m[3]), m[4] === '1'));
  }
  return out;
}

/** Parses one format file; `system` comes from where the file was stored. `at` is its file offset, for errors. */
export function parseFormat(text: string, system: string, at: number): EventFormat {
  let name = '';
  let id = -1;
  let printFmt = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('name: ')) name = line.slice(6).trim();
    else if (line.startsWith('ID: ')) id = Number(line.slice(4).trim());
    else if (line.startsWith('print fmt: ')) printFmt = line.slice('print fmt: '.length);
  }
  const all = parseFieldLines(text);
  const common = all.filter((f) => f.name.startsWith('common_'));
  const fields = all.filter((f) => !f.name.startsWith('common_'));
  if (name === '' || !Number.isInteger(id) || id < 0) throw corrupt(at, `event format without name or ID (${JSON.stringify(text.slice(0, 40))})`);
  return { system, name, id, common, fields, printFmt };
}

/** The field of that name among the common and event fields. */
export function fieldOf(f: EventFormat, name: string): FieldFormat | undefined {
  return f.fields.find((x) => x.name === name) ?? f.common.find((x) => x.name === name);
}
