// A cursor over one payload (s[i..end)) with the few moves every TP_printk text needs:
// literals, hex/decimal numbers written straight into a RowWriter, words. Allocation-free; one
// instance is reused for every line.
import { U64, parseDec64, parseHex64, parseHexSmall, parseInt32At } from './numbers.js';
import type { RowWriter } from './row.js';

export class Cursor {
  s = '';
  i = 0;
  end = 0;
  private readonly n = new U64();
  private readonly scan = { end: 0 };

  reset(s: string, i: number, end: number): this {
    this.s = s;
    this.i = i;
    this.end = end;
    return this;
  }

  get done(): boolean {
    return this.i >= this.end;
  }

  /** Consumes `lit` if the text continues with it. */
  lit(lit: string): boolean {
    if (this.i + lit.length > this.end || !this.s.startsWith(lit, this.i)) return false;
    this.i += lit.length;
    return true;
  }

  /** Hex u64 (optional 0x) into a column. */
  hex64(w: RowWriter, col: number): boolean {
    if (!parseHex64(this.s, this.i, this.n) || this.n.end > this.end) return false;
    w.u64(col, this.n.hi, this.n.lo);
    this.i = this.n.end;
    return true;
  }

  /** Last u64 parsed by hex64/hexValue/decValue, as halves. */
  get last(): U64 {
    return this.n;
  }

  /** Parses hex u64 without writing it (see `last`). */
  hexValue(): boolean {
    if (!parseHex64(this.s, this.i, this.n) || this.n.end > this.end) return false;
    this.i = this.n.end;
    return true;
  }

  /** Parses decimal u64 without writing it (see `last`). */
  decValue(): boolean {
    if (!parseDec64(this.s, this.i, this.n) || this.n.end > this.end) return false;
    this.i = this.n.end;
    return true;
  }

  /** Signed decimal that fits a JS number; NaN (and no move) if none. */
  decInt(): number {
    const v = parseInt32At(this.s, this.i, this.scan);
    if (Number.isNaN(v) || this.scan.end > this.end) return NaN;
    this.i = this.scan.end;
    return v;
  }

  /** Hex (optional 0x) that fits 53 bits; NaN if none. */
  hexInt(): number {
    const v = parseHexSmall(this.s, this.i, this.scan);
    if (Number.isNaN(v) || this.scan.end > this.end) return NaN;
    this.i = this.scan.end;
    return v;
  }

  /** Decimal integer into an int column. */
  decTo(w: RowWriter, col: number): boolean {
    const v = this.decInt();
    if (Number.isNaN(v)) return false;
    w.int(col, v);
    return true;
  }

  /** Hex integer into an int column. */
  hexTo(w: RowWriter, col: number): boolean {
    const v = this.hexInt();
    if (Number.isNaN(v)) return false;
    w.int(col, v);
    return true;
  }

  /** Index of the next `ch` (a char code) at or after the cursor, or -1. */
  find(lit: string): number {
    const j = this.s.indexOf(lit, this.i);
    return j < 0 || j >= this.end ? -1 : j;
  }

  /** Returns s[i..j) and moves to j. */
  take(j: number): string {
    const v = this.s.slice(this.i, j);
    this.i = j;
    return v;
  }

  /** Writes s[i..j) into a string column (without a substring where the writer avoids one) and moves to j. */
  strTo(w: RowWriter, col: number, j: number): true {
    w.strSpan(col, this.s, this.i, j);
    this.i = j;
    return true;
  }

  /** A run of non-space characters (may be empty). */
  word(): string {
    let j = this.i;
    while (j < this.end && this.s.charCodeAt(j) !== 32) j++;
    return this.take(j);
  }

  /** Skips a run of non-space characters (may be empty); always true, for && chains. */
  skipWord(): boolean {
    while (this.i < this.end && this.s.charCodeAt(this.i) !== 32) this.i++;
    return true;
  }

  rest(): string {
    return this.take(this.end);
  }
}
