// Telling VMs apart without a TGID column, on cuts of real captures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture } from '../testing/fixtures.js';
import { analyzeTrace } from '../pipeline/analyze.js';

test('two vCPU threads fixing the same SPTE (fast_page_fault: same hashed sptep, frame and host page) are one VM, not two', async () => {
  const path = fixture('tdp-nested/tdp-mixed-fast-faults.cut.txt.gz');
  const vms = async (p: string): Promise<number[][]> =>
    (await analyzeTrace(p)).vms.map((vm) => vm.tasks.map((t) => t.pid));
  assert.deepEqual(await vms(path), [[279, 280]]);
  // the same cut with the pointer changed in pid 279's line: nothing ties the threads, two VMs
  const text = gunzipSync(readFileSync(path)).toString('utf8');
  const at = text.indexOf('13.230096: fast_page_fault');
  assert.ok(at > 0);
  const untied = text.slice(0, at) + text.slice(at).replace('sptep 000000004d2ac7e0', 'sptep 000000004d2ac7e8');
  const other = join(mkdtempSync(join(tmpdir(), 'mmu-trace-vmid-')), 'untied.txt');
  writeFileSync(other, untied);
  assert.deepEqual(await vms(other), [[279], [280]]);
});
