// Exact number parsing for the hot path. 64-bit values are carried as two 32-bit words (hi, lo)
// so no BigInt is created per line; `U64.value()` builds one only when a caller needs it.

/** Scratch result of a 64-bit parse: the two 32-bit halves of an unsigned value. */
export class U64 {
  hi = 0;
  lo = 0;
  /** Index just past the last digit consumed. */
  end = 0;

  value(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }
}

const TWO32 = 0x100000000;

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Parses hex digits at s[i..] (an optional `0x` prefix is skipped) into `out`.
 * Returns false if there is no digit or more than 16 significant digits.
 */
export function parseHex64(s: string, i: number, out: U64): boolean {
  if (s.charCodeAt(i) === 48 && (s.charCodeAt(i + 1) | 32) === 120 && hexDigit(s.charCodeAt(i + 2)) >= 0) i += 2;
  const start = i;
  let hi = 0;
  let lo = 0;
  let sig = 0;
  for (;;) {
    const d = hexDigit(s.charCodeAt(i));
    if (d < 0) break;
    if (sig > 0 || d > 0) sig++;
    if (sig > 16) return false;
    // shift the 64-bit value left by 4 and add d, on 32-bit halves
    hi = ((hi << 4) | (lo >>> 28)) >>> 0;
    lo = ((lo << 4) | d) >>> 0;
    i++;
  }
  if (i === start) return false;
  out.hi = hi;
  out.lo = lo;
  out.end = i;
  return true;
}

/** Parses unsigned decimal digits at s[i..] into `out` exactly (up to 2^64-1). */
export function parseDec64(s: string, i: number, out: U64): boolean {
  const start = i;
  let hi = 0;
  let lo = 0;
  for (;;) {
    const c = s.charCodeAt(i);
    if (!(c >= 48 && c <= 57)) break; // NaN past the end stops too
    // value = value * 10 + d, on 32-bit halves (lo*10 + d < 2^36 is exact in a double)
    const l = lo * 10 + (c - 48);
    const carry = Math.floor(l / TWO32);
    const h = hi * 10 + carry;
    if (h >= TWO32) return false;
    hi = h;
    lo = l - carry * TWO32;
    i++;
  }
  if (i === start) return false;
  out.hi = hi;
  out.lo = lo;
  out.end = i;
  return true;
}

/** Parses a signed decimal integer that fits a JS number; returns NaN if none. Sets `scan.end`. */
export function parseInt32At(s: string, i: number, scan: { end: number }): number {
  let neg = false;
  if (s.charCodeAt(i) === 45) {
    neg = true;
    i++;
  }
  const start = i;
  let v = 0;
  for (;;) {
    const c = s.charCodeAt(i);
    if (!(c >= 48 && c <= 57)) break; // NaN past the end stops too
    v = v * 10 + (c - 48);
    i++;
  }
  if (i === start || i - start > 15) return NaN;
  scan.end = i;
  return neg ? -v : v;
}

/** Parses hex digits (optional 0x) that fit 53 bits; NaN if none. Sets `scan.end`. */
export function parseHexSmall(s: string, i: number, scan: { end: number }): number {
  if (s.charCodeAt(i) === 48 && (s.charCodeAt(i + 1) | 32) === 120 && hexDigit(s.charCodeAt(i + 2)) >= 0) i += 2;
  const start = i;
  let v = 0;
  for (;;) {
    const d = hexDigit(s.charCodeAt(i));
    if (d < 0) break;
    v = v * 16 + d;
    i++;
  }
  if (i === start || i - start > 13) return NaN;
  scan.end = i;
  return v;
}

/**
 * A trace timestamp: `sec.frac` (1-9 fraction digits; ftrace prints 6, `perf script --ns` 9) or a
 * bare counter (counter clocks such as x86-tsc). `ns` holds nanoseconds — or the raw counter when
 * `isCounter` — exactly, as 32-bit halves.
 */
export class Timestamp {
  hi = 0;
  lo = 0;
  fracDigits = 0;
  isCounter = false;
  end = 0;
}

const POW10 = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/** Parses a timestamp at s[i..]; returns false if it is not one. */
export function parseTimestamp(s: string, i: number, ts: Timestamp, scratch: U64): boolean {
  // fast path: seconds and fraction as plain numbers while ns stays below 2^53 (104 days of uptime)
  let sec = 0;
  let j = i;
  for (;;) {
    const c = s.charCodeAt(j);
    if (!(c >= 48 && c <= 57)) break; // NaN past the end stops too
    sec = sec * 10 + (c - 48);
    j++;
  }
  if (j === i) return false;
  if (s.charCodeAt(j) !== 46 || sec >= 9007199) return parseTimestampExact(s, i, ts, scratch);
  if (!parseFraction(s, j + 1, ts)) return false;
  const ns = sec * 1e9 + ts.lo;
  ts.hi = Math.floor(ns / TWO32);
  ts.lo = ns >>> 0;
  return true;
}

/**
 * The 1-9 digits after the '.' at s[j..], as nanoseconds in ts.lo (scaled to 9 digits); sets
 * fracDigits, end and isCounter = false.
 */
function parseFraction(s: string, j: number, ts: Timestamp): boolean {
  const start = j;
  let frac = 0;
  while (j - start < 10) {
    const c = s.charCodeAt(j);
    if (!(c >= 48 && c <= 57)) break; // NaN past the end stops too
    frac = frac * 10 + (c - 48);
    j++;
  }
  const digits = j - start;
  if (digits === 0 || digits > 9) return false;
  ts.lo = frac * POW10[9 - digits]!;
  ts.fracDigits = digits;
  ts.isCounter = false;
  ts.end = j;
  return true;
}

/** Any timestamp, exactly: counters up to 2^64-1, seconds up to 2^32. */
function parseTimestampExact(s: string, i: number, ts: Timestamp, scratch: U64): boolean {
  if (!parseDec64(s, i, scratch)) return false;
  let j = scratch.end;
  if (s.charCodeAt(j) !== 46) {
    ts.hi = scratch.hi;
    ts.lo = scratch.lo;
    ts.isCounter = true;
    ts.fracDigits = 0;
    ts.end = j;
    return true;
  }
  // seconds must fit 2^32 (136 years of uptime) for the limb arithmetic below
  if (scratch.hi !== 0) return false;
  const sec = scratch.lo;
  if (!parseFraction(s, j + 1, ts)) return false;
  const fracNs = ts.lo;
  // ns = sec * 1e9 + fracNs, computed on 32-bit halves: sec = a * 2^16 + b
  const a = Math.floor(sec / 65536);
  const b = sec - a * 65536;
  const low = b * 1e9 + fracNs; // < 2^46, exact
  const aProd = a * 1e9; // < 2^46, exact; contributes aProd * 2^16
  const aHi = Math.floor(aProd / 65536); // part landing in bits >= 32
  const aLo = (aProd - aHi * 65536) * 65536; // < 2^32
  const lowHi = Math.floor(low / TWO32);
  const lowLo = low - lowHi * TWO32;
  let lo = lowLo + aLo;
  let carry = 0;
  if (lo >= TWO32) {
    lo -= TWO32;
    carry = 1;
  }
  ts.hi = aHi + lowHi + carry;
  ts.lo = lo;
  return true;
}

/** Formats a nanosecond count as seconds with `fracDigits` decimals, exactly. */
export function formatSeconds(ns: bigint, fracDigits: number): string {
  const sec = ns / 1000000000n;
  const frac = (ns % 1000000000n).toString().padStart(9, '0');
  return fracDigits === 0 ? sec.toString() : `${sec}.${frac.slice(0, fracDigits)}`;
}
