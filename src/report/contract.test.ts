// The JSON contracts are shipped as JSON Schemas (schema/*.schema.json, generated from contract.ts
// and compare.ts by `npm run schema`): the files must be what the types say now, and real reports —
// shadow and TDP, with every finding family, and a compare — must validate against them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { createGenerator } from 'ts-json-schema-generator';
import { analyzeTrace } from '../pipeline/analyze.js';
import { fixture } from '../testing/fixtures.js';
import { loadMemslotsFile } from '../model/memslots.js';
import { parseWhatIf } from '../analyses/what-if.js';
import { compareReports, evaluateFailOn } from './compare.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const schemaFile = (name: string): object => JSON.parse(readFileSync(`${REPO}schema/${name}.schema.json`, 'utf8')) as object;
const REPORT_SCHEMA = schemaFile('analyze-report');
const COMPARE_SCHEMA = schemaFile('compare-report');

test('schema/*.schema.json are up to date with contract.ts and compare.ts (npm run schema)', () => {
  for (const [file, type, schema] of [['contract', 'AnalyzeReport', REPORT_SCHEMA], ['compare', 'CompareReport', COMPARE_SCHEMA]] as const) {
    const fresh = createGenerator({ path: `${REPO}src/report/${file}.ts`, tsconfig: `${REPO}tsconfig.json`, type, topRef: false }).createSchema(type);
    assert.deepEqual(JSON.parse(JSON.stringify(fresh)), schema, type);
  }
});

test('compare JSON validates against its schema', async () => {
  const r = await analyzeTrace(fixture('cuts/touch.ftrace.txt'), { whatIf: parseWhatIf('skip-unchanged') });
  const c = compareReports(r, r);
  c.failOn = evaluateFailOn(c, 'redundantZaps.count>0');
  const validate = new Ajv({ allErrors: true }).compile(COMPARE_SCHEMA);
  assert.ok(validate(JSON.parse(JSON.stringify(c))), JSON.stringify(validate.errors?.slice(0, 3)));
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
