// Fast-path scanners for the part of a line before the payload: task, pid, TGID, CPU, flags,
// timestamp, event name — one per text dialect (kvm-mmu-reference.md §7). They only find spans
// and numbers; no regex, no allocation. grammar/trace-line.ohm is the specification they follow.
import { Timestamp, U64, parseTimestamp } from './numbers.js';

export type Dialect = 'ftrace' | 'trace-cmd' | 'perf';

export type HeadKind = 'event' | 'stack' | 'unknown-type' | 'function';

/** Spans and values of one line's head; reused for every line. */
export class LineHead {
  kind: HeadKind = 'event';
  instanceEnd = -1;
  commStart = 0;
  commEnd = 0;
  pid = 0;
  tgid = -1;
  cpu = 0;
  flagsStart = -1;
  flagsEnd = -1;
  readonly ts = new Timestamp();
  grpStart = -1;
  grpEnd = -1;
  eventStart = 0;
  eventEnd = 0;
  payloadStart = 0;
  private readonly scratch = new U64();

  reset(): void {
    this.kind = 'event';
    this.instanceEnd = -1;
    this.tgid = -1;
    this.flagsStart = -1;
    this.flagsEnd = -1;
    this.grpStart = -1;
    this.grpEnd = -1;
  }

  timestamp(s: string, i: number): boolean {
    return parseTimestamp(s, i, this.ts, this.scratch);
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Reads unsigned decimal digits in s[i..j); -1 if any is not a digit. */
function digitsValue(s: string, i: number, j: number): number {
  if (i >= j) return -1;
  let v = 0;
  for (let k = i; k < j; k++) {
    const c = s.charCodeAt(k);
    if (!isDigit(c)) return -1;
    v = v * 10 + (c - 48);
  }
  return v;
}

/**
 * Index of the first ` [NNN]` CPU field in s[a..e), followed by a space, the end, or (trace-cmd
 * report --raw-ts) directly by the timestamp; -1 if none.
 */
function findCpuField(s: string, a: number, e: number): number {
  let i = s.indexOf(' [', a);
  while (i >= 0 && i < e) {
    let j = i + 2;
    while (j < e && isDigit(s.charCodeAt(j))) j++;
    if (j > i + 2 && s.charCodeAt(j) === 93 && (j + 1 === e || s.charCodeAt(j + 1) === 32 || isDigit(s.charCodeAt(j + 1)))) return i + 1;
    i = s.indexOf(' [', i + 1);
  }
  return -1;
}

function skipSpaces(s: string, i: number, e: number): number {
  while (i < e && s.charCodeAt(i) === 32) i++;
  return i;
}

function trimEnd(s: string, a: number, j: number): number {
  while (j > a && s.charCodeAt(j - 1) === 32) j--;
  return j;
}

/** `comm-pid` ending at j (exclusive); comm may contain spaces, slashes and `-digits`. */
function commDashPid(s: string, a: number, j: number, h: LineHead): boolean {
  let k = j;
  while (k > a && isDigit(s.charCodeAt(k - 1))) k--;
  if (k === j || k === a || s.charCodeAt(k - 1) !== 45) return false;
  h.pid = digitsValue(s, k, j);
  h.commStart = skipSpaces(s, a, k - 1);
  h.commEnd = k - 1;
  return true;
}

/** CPU field at `open` ('['); returns the index after ']'. */
function cpuField(s: string, open: number, h: LineHead): number {
  const close = s.indexOf(']', open);
  h.cpu = digitsValue(s, open + 1, close);
  return close + 1;
}

/** Optional irq-info flags then the timestamp and ': '; returns the index after ': ', or -1. */
function flagsAndTimestamp(s: string, i: number, e: number, h: LineHead): number {
  i = skipSpaces(s, i, e);
  if (i < e && !isDigit(s.charCodeAt(i))) {
    // irqs-off is never a digit, so a leading digit is the timestamp
    h.flagsStart = i;
    while (i < e && s.charCodeAt(i) !== 32) i++;
    h.flagsEnd = i;
    i = skipSpaces(s, i, e);
  }
  if (!h.timestamp(s, i)) return -1;
  i = h.ts.end;
  if (s.charCodeAt(i) !== 58 || s.charCodeAt(i + 1) !== 32) return -1;
  return i + 2;
}

/** Event name (letters, digits, _) up to ':'; returns the index after ':', or -1. */
function eventName(s: string, i: number, e: number, h: LineHead): number {
  h.eventStart = i;
  while (i < e) {
    const c = s.charCodeAt(i);
    if (c === 58) break;
    if (!((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || isDigit(c) || c === 95)) return -1;
    i++;
  }
  if (i === h.eventStart || i >= e) return -1;
  h.eventEnd = i;
  return i + 1;
}

const STACK = '<stack trace>';
const UNKNOWN_TYPE = 'UNKNOWN TYPE ';

/** The function tracer's `func <-parent`: the payload of a `function` row. */
function functionCall(s: string, i: number, e: number, h: LineHead): boolean {
  const arrow = s.indexOf(' <-', i);
  if (arrow <= i || arrow >= e || arrow + 3 >= e) return false;
  for (let k = i; k < e; k++) if (k !== arrow && s.charCodeAt(k) === 32) return false;
  h.kind = 'function';
  h.eventStart = i;
  h.eventEnd = i;
  h.payloadStart = i;
  return true;
}

/** After `ts: `: the event name and payload, or ftrace's `<stack trace>` / `UNKNOWN TYPE n` lines. */
function eventAndPayload(s: string, i: number, e: number, h: LineHead, padded: boolean): boolean {
  if (s.startsWith(STACK, i) && i + STACK.length === e) {
    h.kind = 'stack';
    h.eventStart = i;
    h.eventEnd = e;
    h.payloadStart = e;
    return true;
  }
  if (s.startsWith(UNKNOWN_TYPE, i)) {
    h.kind = 'unknown-type';
    h.eventStart = i;
    h.eventEnd = e;
    h.payloadStart = i;
    return true;
  }
  const j = eventName(s, i, e, h);
  if (j < 0) return functionCall(s, i, e, h);
  if (j === e) h.payloadStart = e;
  else if (s.charCodeAt(j) !== 32) return false;
  else h.payloadStart = padded ? skipSpaces(s, j, e) : j + 1;
  return true;
}

/** ftrace `trace` / `trace_pipe`: `comm-pid [(tgid)] [cpu] [flags] ts: event: payload`. */
export function scanFtrace(s: string, a: number, e: number, h: LineHead): boolean {
  h.reset();
  const open = findCpuField(s, a, e);
  if (open < 0) return false;
  let j = trimEnd(s, a, open);
  if (s.charCodeAt(j - 1) === 41) {
    // TGID column: "(%7d) " or "(-------) "
    const paren = s.lastIndexOf('(', j);
    if (paren < a) return false;
    const inner = skipSpaces(s, paren + 1, j - 1);
    h.tgid = s.charCodeAt(inner) === 45 ? -1 : digitsValue(s, inner, j - 1);
    if (h.tgid < -1 || (h.tgid === -1 && s.charCodeAt(inner) !== 45)) return false;
    j = trimEnd(s, a, paren);
  }
  if (!commDashPid(s, a, j, h)) return false;
  const i = flagsAndTimestamp(s, cpuField(s, open, h), e, h);
  return i >= 0 && eventAndPayload(s, i, e, h, false);
}

/** trace-cmd report: `[instance: ]comm-pid [cpu] [flags] ts: event:<padding>payload`. */
export function scanTraceCmd(s: string, a: number, e: number, h: LineHead): boolean {
  h.reset();
  const open = findCpuField(s, a, e);
  if (open < 0) return false;
  let start = a;
  if (s.charCodeAt(a) !== 32) {
    // an instance prefix "name: " (comm is padded to 16, so a line without one starts with a space)
    const colon = s.indexOf(': ', a);
    if (colon > 0 && colon < open) {
      h.instanceEnd = colon;
      start = colon + 1;
    }
  }
  if (!commDashPid(s, start, trimEnd(s, start, open), h)) return false;
  const i = flagsAndTimestamp(s, cpuField(s, open, h), e, h);
  return i >= 0 && eventAndPayload(s, i, e, h, true);
}

/** perf script: `comm tid|pid/tid [cpu] ts: group:event: payload` (comm right-aligned, may contain spaces). */
export function scanPerf(s: string, a: number, e: number, h: LineHead): boolean {
  h.reset();
  const open = findCpuField(s, a, e);
  if (open < 0) return false;
  const j = trimEnd(s, a, open);
  let k = j;
  while (k > a && s.charCodeAt(k - 1) !== 32) k--;
  const slash = s.indexOf('/', k);
  if (slash >= 0 && slash < j) {
    h.tgid = digitsValue(s, k, slash);
    h.pid = digitsValue(s, slash + 1, j);
    if (h.tgid < 0 || h.pid < 0) return false;
  } else if (s.charCodeAt(k) === 45) {
    // perf prints pid -1 for samples it could not attribute (comm ":-1")
    h.pid = -digitsValue(s, k + 1, j);
    if (h.pid >= 0) return false;
  } else {
    h.pid = digitsValue(s, k, j);
    if (h.pid < 0) return false;
  }
  if (k === a) return false;
  h.commStart = skipSpaces(s, a, k);
  h.commEnd = trimEnd(s, a, k);
  let i = skipSpaces(s, cpuField(s, open, h), e);
  if (!h.timestamp(s, i)) return false;
  i = h.ts.end;
  if (s.charCodeAt(i) !== 58) return false;
  i = skipSpaces(s, i + 1, e);
  // "group:event:"
  const g = s.indexOf(':', i);
  if (g < 0 || g >= e) return false;
  h.grpStart = i;
  h.grpEnd = g;
  return eventAndPayload(s, g + 1, e, h, false);
}

export const SCANNERS: Readonly<Record<Dialect, (s: string, a: number, e: number, h: LineHead) => boolean>> = {
  ftrace: scanFtrace,
  'trace-cmd': scanTraceCmd,
  perf: scanPerf,
};
