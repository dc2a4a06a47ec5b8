// Memslots from a workload's `truth: <tag> memslot ...` lines (MANIFEST.md / *.stdout), as the
// --memslots file a user would write; vm = the tag's pid (its TGID).
import { readFileSync } from 'node:fs';
import type { Memslot } from '../model/memslots.js';

export function memslotsFromTruth(stdoutPath: string, withVm = false): Memslot[] {
  const text = readFileSync(stdoutPath, 'utf8');
  const pids = new Map<string, number>();
  for (const m of text.matchAll(/^truth: (\S+) pid=(\d+)/gm)) pids.set(m[1]!, Number(m[2]));
  const out: Memslot[] = [];
  for (const m of text.matchAll(/^truth: (\S+) memslot id=(\d+) .*gfn_start=(0x[0-9a-f]+) gfn_end=(0x[0-9a-f]+) hva_start=(0x[0-9a-f]+) .*present=1/gm)) {
    const slot: Memslot = { slot: Number(m[2]), as_id: 0, base_gfn: Number(m[3]), npages: Number(m[4]) - Number(m[3]), userspace_addr: Number(m[5]) };
    if (withVm) slot.vm = pids.get(m[1]!)!;
    out.push(slot);
  }
  return out;
}
