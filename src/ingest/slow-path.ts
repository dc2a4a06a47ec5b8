// PLACEHOLDER until the ohm grammar lands (same session): every fast-path reject is a skip.
import type { Dialect } from './head.js';
import type { RowRecord, RowWriter } from './row.js';

export type SlowResult = { ok: true; record: RowRecord } | { ok: false; message: string; column?: number };

export function parseLineSlow(_dialect: Dialect, _text: string): SlowResult {
  return { ok: false, message: 'not parsed' };
}

export function writeRecord(_w: RowWriter, _r: RowRecord, _line: number): void {}
