// The README documents the events table: every column, with the type and text declared in schema.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { REPO } from '../testing/fixtures.js';
import { EVENT_COLUMNS } from './schema.js';

test('README lists every events column with its description', () => {
  const readme = readFileSync(`${REPO}README.md`, 'utf8');
  const missing = EVENT_COLUMNS.filter((c) => !readme.includes(`| \`${c.name}\` |`) || !readme.includes(c.doc.replaceAll('|', '\\|')));
  assert.deepEqual(missing.map((c) => c.name), []);
  assert.equal(new Set(EVENT_COLUMNS.map((c) => c.name)).size, EVENT_COLUMNS.length);
});
