// Exactness of the hot-path number parsing: 64-bit values and timestamps never pass through doubles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Timestamp, U64, formatSeconds, parseDec64, parseHex64, parseTimestamp } from './numbers.js';

const u = new U64();

test('hex: 64-bit values incl. bit 63, 0x prefix, too many digits rejected', () => {
  for (const [text, value] of [['800000010bc97907', 0x800000010bc97907n], ['0x007fdedf3ff000', 0x7fdedf3ff000n],
    ['ffffffffffffffff', 0xffffffffffffffffn], ['0', 0n], ['80000000000005a0', 0x80000000000005a0n]] as const) {
    assert.ok(parseHex64(text, 0, u), text);
    assert.equal(u.value(), value, text);
    assert.equal(u.end, text.length, text);
  }
  assert.equal(parseHex64('1ffffffffffffffff', 0, u), false);
  assert.equal(parseHex64('xyz', 0, u), false);
});

test('decimal: up to 2^64-1 exactly, overflow rejected', () => {
  assert.ok(parseDec64('18446744073709551615', 0, u));
  assert.equal(u.value(), 18446744073709551615n);
  assert.ok(parseDec64('262144 role', 0, u));
  assert.deepEqual([u.value(), u.end], [262144n, 6]);
  assert.equal(parseDec64('18446744073709551616', 0, u), false);
});

test('timestamps: µs and ns precision, past 2^53 ns, counters', () => {
  const ts = new Timestamp();
  const ns = (text: string): bigint => {
    assert.ok(parseTimestamp(text, 0, ts, u), text);
    return (BigInt(ts.hi) << 32n) | BigInt(ts.lo);
  };
  assert.equal(ns('1383.607559'), 1383607559000n);
  assert.equal(ns('165.443494590'), 165443494590n);
  // 200 days of uptime: beyond the double fast path
  assert.equal(ns('17280000.123456789'), 17280000123456789n);
  assert.equal(ns('4294967295.999999999'), 4294967295999999999n);
  assert.equal(ns('375199946511'), 375199946511n);
  assert.equal(ts.isCounter, true);
  assert.equal(parseTimestamp('12.', 0, ts, u), false);
  assert.equal(formatSeconds(1383607559000n, 6), '1383.607559');
  assert.equal(formatSeconds(165443494590n, 9), '165.443494590');
});
