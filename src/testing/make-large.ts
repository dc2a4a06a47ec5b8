// A large trace for the scale benchmarks and the bounded-memory tests: the events of a real trace repeated until the file has
// about `targetBytes`, each copy's timestamps shifted past the previous copy's last one so time
// keeps increasing. Header lines are written once; nothing else in a line changes (the same tasks
// come back in each copy, as a VMM restarted in place would). Streams: memory stays flat.
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { once } from 'node:events';

/** `  ...  1234.567890: ` — the ftrace timestamp before the event name. */
const TS = /^(.*?\] \S+ +)(\d+)\.(\d{6}): /;

async function copyOnce(src: string, out: NodeJS.WritableStream, shiftUs: bigint, withHeader: boolean): Promise<{ firstRawUs: bigint; lastUs: bigint; bytes: number }> {
  let firstRawUs = -1n;
  let lastUs = 0n;
  let bytes = 0;
  for await (const line of createInterface({ input: createReadStream(src), crlfDelay: Infinity })) {
    let text = line;
    if (line.startsWith('#')) {
      if (!withHeader) continue;
    } else {
      const m = TS.exec(line);
      if (m) {
        const raw = BigInt(m[2]!) * 1_000_000n + BigInt(m[3]!);
        if (firstRawUs < 0n) firstRawUs = raw;
        const us = raw + shiftUs;
        lastUs = us;
        text = `${m[1]}${us / 1_000_000n}.${(us % 1_000_000n).toString().padStart(6, '0')}: ${line.slice(m[0].length)}`;
      }
    }
    bytes += text.length + 1;
    if (!out.write(`${text}\n`)) await once(out, 'drain');
  }
  return { firstRawUs, lastUs, bytes };
}

/** Writes `out` from copies of `src` (an uncompressed ftrace file) until it reaches `targetBytes`. */
export async function makeLarge(src: string, out: string, targetBytes: number): Promise<{ copies: number; bytes: number }> {
  const w = createWriteStream(out);
  let shift = 0n;
  let bytes = 0;
  let copies = 0;
  const srcBytes = statSync(src).size;
  while (bytes + srcBytes / 2 < targetBytes) {
    const r = await copyOnce(src, w, shift, copies === 0);
    bytes += r.bytes;
    copies++;
    // the next copy's first event comes 1 s after this one's last
    shift = r.lastUs + 1_000_000n - r.firstRawUs;
  }
  w.end();
  await once(w, 'finish');
  return { copies, bytes };
}
