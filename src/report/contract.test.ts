// The JSON contract is shipped as a JSON Schema (schema/analyze-report.schema.json, generated from
// contract.ts by `npm run schema`): the file must be what the types say now, and real reports —
// shadow and TDP, with every finding family — must validate against it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { createGenerator } from 'ts-json-schema-generator';
import { analyzeTrace } from '../cli/pipeline.js';
import { fixture } from '../testing/fixtures.js';
import { loadMemslotsFile } from '../model/memslots.js';
import { parseWhatIf } from '../analyses/what-if.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const REPORT_SCHEMA = JSON.parse(readFileSync(`${REPO}schema/analyze-report.schema.json`, 'utf8')) as object;

test('schema/analyze-report.schema.json is up to date with contract.ts (npm run schema)', () => {
  const fresh = createGenerator({ path: `${REPO}src/report/contract.ts`, tsconfig: `${REPO}tsconfig.json`, type: 'AnalyzeReport', topRef: false })
    .createSchema('AnalyzeReport');
  assert.deepEqual(JSON.parse(JSON.stringify(fresh)), REPORT_SCHEMA);
});

test('analyze JSON of real and hand-made traces validates against the schema', async () => {
  const validate = new Ajv({ allErrors: true }).compile(REPORT_SCHEMA);
  const memslots = loadMemslotsFile(fixture('tdp/memslots.json'));
  for (const [name, opts] of [
    ['mprotect-roundtrip.ftrace.txt.gz', { whatIf: parseWhatIf('skip-unchanged,no-age-flush,memslot-elision,batch=20') }], ['cuts/touch.perf.txt', {}], ['cuts/touch.tracecmd.txt', {}],
    ['tdp/tdp-split.v6.12.ftrace.txt', { model: { memslots } }], ['tdp/tdp-mmio.v6.12.ftrace.txt', { model: { memslots } }],
  ] as const) {
    const report = JSON.parse(JSON.stringify(await analyzeTrace(fixture(name), opts))) as Record<string, object>;
    assert.ok(validate(report), `${name}: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
    // the schema is closed: a key the contract does not name fails
    assert.equal(validate({ ...report, findings: { ...report.findings, bogus: 1 } }), false, name);
  }
});
