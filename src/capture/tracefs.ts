// tracefs as `record` uses it: a private instance (instances/NAME, never the top-level buffer), its
// events, options and buffer, and the teardown that leaves nothing enabled. Synchronous on purpose:
// the teardown must also run from a signal or 'exit' handler.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitSpec, type EventSpec } from './events.js';

/** tracefs cannot be used here: the message says why and what to do. */
export class CaptureError extends Error {}

const MOUNT_POINTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

function errno(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

/** The tracefs root; mounts it at /sys/kernel/tracing when nothing is there (root only). */
export function findTracefs(): { root: string; mounted: boolean } {
  for (const p of MOUNT_POINTS) if (existsSync(join(p, 'instances'))) return { root: p, mounted: false };
  if (process.getuid?.() !== 0) throw new CaptureError('tracefs is not mounted and mounting it needs root: run as root (sudo), or mount -t tracefs nodev /sys/kernel/tracing');
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', MOUNT_POINTS[0]!], { stdio: 'pipe' });
  } catch (e) {
    throw new CaptureError(`tracefs is not mounted, and mount -t tracefs nodev ${MOUNT_POINTS[0]} failed: ${(e as { stderr?: Buffer }).stderr?.toString().trim() || errno(e)}`);
  }
  return { root: MOUNT_POINTS[0]!, mounted: true };
}

export function unmountTracefs(root: string): void {
  try {
    execFileSync('umount', [root], { stdio: 'pipe' });
  } catch {
    // still in use by someone else: leave it mounted
  }
}

/** Event specs → the `group/name` directories that exist under `eventsDir`, and the specs that do not. */
export function resolveEvents(eventsDir: string, specs: readonly EventSpec[]): { found: string[]; missing: EventSpec[] } {
  const found: string[] = [];
  const missing: EventSpec[] = [];
  for (const spec of specs) {
    const { group, name } = splitSpec(spec);
    if (name === '*') {
      if (existsSync(join(eventsDir, group, 'enable'))) found.push(group);
      else missing.push(spec);
    } else if (existsSync(join(eventsDir, group, name, 'enable'))) found.push(`${group}/${name}`);
    else missing.push(spec);
  }
  return { found, missing };
}

export class TracefsInstance {
  private removed = false;

  private constructor(readonly root: string, readonly name: string, readonly dir: string) {}

  /** Creates instances/NAME; refuses one that exists (another run's, or ours from a crash). */
  static create(root: string, name: string): TracefsInstance {
    const dir = join(root, 'instances', name);
    if (existsSync(dir)) throw new CaptureError(`${dir} exists already (another mmu-trace record?); remove it with rmdir ${dir}`);
    try {
      mkdirSync(dir);
    } catch (e) {
      const code = errno(e);
      throw new CaptureError(code === 'EACCES' || code === 'EPERM'
        ? `cannot create a tracefs instance (${code}): run as root (sudo)`
        : `cannot create ${dir}: ${code}`);
    }
    return new TracefsInstance(root, name, dir);
  }

  path(rel: string): string {
    return join(this.dir, rel);
  }

  write(rel: string, value: string): void {
    writeFileSync(this.path(rel), value);
  }

  read(rel: string): string {
    return readFileSync(this.path(rel), 'utf8');
  }

  /** Enables `group` or `group/name` under this instance's events/. */
  enable(event: string): void {
    this.write(join('events', event, 'enable'), '1');
  }

  /** Per-CPU ring-buffer statistics (per_cpu/cpuN/stats): events overwritten or dropped. */
  lostByCpu(): { cpu: number; overrun: number; dropped: number }[] {
    const dir = this.path('per_cpu');
    return readdirSync(dir).filter((d) => /^cpu\d+$/.test(d)).map((d) => {
      const stats = readFileSync(join(dir, d, 'stats'), 'utf8');
      const num = (key: string): number => Number(new RegExp(`^${key}: (\\d+)`, 'm').exec(stats)?.[1] ?? 0);
      return { cpu: Number(d.slice(3)), overrun: num('overrun'), dropped: num('dropped events') };
    }).sort((a, b) => a.cpu - b.cpu);
  }

  /**
   * Stops tracing, disables every event and the function tracer, and removes the instance.
   * Idempotent; each step is tried even when an earlier one fails, and a failure is returned.
   */
  remove(): string | null {
    if (this.removed) return null;
    const failures: string[] = [];
    const attempt = (what: string, f: () => void): void => {
      try {
        f();
      } catch (e) {
        failures.push(`${what}: ${errno(e)}`);
      }
    };
    if (!existsSync(this.dir)) {
      this.removed = true;
      return null;
    }
    attempt('tracing_on', () => this.write('tracing_on', '0'));
    attempt('events/enable', () => this.write('events/enable', '0'));
    if (this.read('current_tracer').trim() !== 'nop') attempt('current_tracer', () => this.write('current_tracer', 'nop'));
    // an instance cannot be removed while a file in it is open: retry briefly
    for (let i = 0; ; i++) {
      try {
        rmdirSync(this.dir);
        break;
      } catch (e) {
        if (errno(e) !== 'EBUSY' || i >= 50) {
          failures.push(`rmdir: ${errno(e)}`);
          break;
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
    this.removed = !existsSync(this.dir);
    return failures.length ? `${this.dir}: ${failures.join(', ')}` : null;
  }
}
