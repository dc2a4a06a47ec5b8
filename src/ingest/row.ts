// The sink every decoder writes one event row into. The Arrow batch builder implements it for
// real; the differential test implements it as a plain record, so the fast path and the ohm
// grammar can be compared field by field.

export interface RowWriter {
  /** Unsigned 64-bit value given as 32-bit halves. */
  u64(col: number, hi: number, lo: number): void;
  /** Any 8/32-bit integer column (u8, u32, i32). */
  int(col: number, v: number): void;
  bool(col: number, v: boolean): void;
  /** Dictionary or plain string column. */
  str(col: number, s: string): void;
  /** The same for text[a..e), without making the substring where the writer can avoid it. */
  strSpan(col: number, text: string, a: number, e: number): void;
}

/** A decoded row as a plain object (column name → value); u64 values are bigint. */
export type RowRecord = Record<string, bigint | number | boolean | string>;
