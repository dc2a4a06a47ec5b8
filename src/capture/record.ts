// `mmu-trace record`: a private tracefs instance with the preset's events and record-tgid, its
// trace_pipe streamed to a file while COMMAND runs (or until SIGINT / --duration), then the
// instance removed — also on SIGINT, SIGTERM, a failing command and a second Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { constants as osConstants, cpus } from 'node:os';
import { join } from 'node:path';
import { EVENT_PRESETS, type EventSpec, type PresetName } from './events.js';
import { FLUSH_FUNCTIONS } from '../model/flush-rules.js';
import { CaptureError, findTracefs, resolveEvents, TracefsInstance, unmountTracefs } from './tracefs.js';
import { hostInfo } from './host.js';
import { paramsText, recordLine } from '../ingest/record-header.js';
import { TOOL_VERSION } from '../version.js';

export interface RecordOptions extends SessionOptions {
  output: string;
  /** Stop after this many seconds (also when a command still runs: it is then sent SIGINT). */
  durationS?: number;
  /** argv of the command to run while recording; none: record until SIGINT or --duration. */
  command: string[];
}

export interface RecordResult {
  bytes: number;
  lines: number;
  lost: number;
  stopped: string;
  /** The command's exit status (128+signal when a signal ended it), null without a command. */
  commandStatus: number | null;
  missingEvents: EventSpec[];
}

const READ_BYTES = 1 << 20;
const POLL_MS = 50;
const MAX_DEFAULT_BUFFER_KB = 64 * 1024;

/** 64 MiB per CPU, less where an eighth of the available memory is smaller (many CPUs, small RAM). */
export function bufferKbDefault(): number {
  const avail = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
  const perCpu = avail ? Math.floor(Number(avail) / 8 / Math.max(1, cpus().length)) : MAX_DEFAULT_BUFFER_KB;
  return Math.max(1024, Math.min(MAX_DEFAULT_BUFFER_KB, perCpu));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The flush entry points this kernel can function-trace (available_filter_functions). */
function traceableFlushFunctions(root: string): string[] {
  let avail: string;
  try {
    avail = readFileSync(join(root, 'available_filter_functions'), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CaptureError(`--observe-flushes: the function tracer cannot be used here (available_filter_functions: ${code}${code === 'EPERM' ? '; kernel lockdown forbids it' : ''}); record without it, or on a kernel that allows function tracing`);
  }
  const names = new Set(avail.split('\n').map((l) => l.split(/\s/)[0]));
  return FLUSH_FUNCTIONS.filter((f) => names.has(f));
}

export interface SessionOptions {
  preset: PresetName;
  /** Per-CPU ring buffer size; default: sized from the free memory (bufferKbDefault). */
  bufferKb?: number;
  observeFlushes: boolean;
  /** Notes for the user (stderr). */
  note: (text: string) => void;
}

/**
 * A private tracefs instance set up for the preset's events and record-tgid, not yet tracing.
 * `close()` restores tracefs; it also runs on process exit, whatever happens.
 */
export class TraceSession {
  readonly events: string[];
  readonly missing: EventSpec[];
  readonly bufferKb: number;
  private pipeFd = -1;
  private readonly teardown = (): void => this.close();

  private readonly note: (text: string) => void;

  private constructor(readonly inst: TracefsInstance, readonly flushFunctions: string[], private readonly mounted: boolean, opts: SessionOptions) {
    this.note = opts.note;
    process.on('exit', this.teardown);
    try {
      ({ found: this.events, missing: this.missing } = resolveEvents(join(inst.dir, 'events'), EVENT_PRESETS[opts.preset].events));
      if (this.missing.length) opts.note(`not on this kernel, skipped: ${this.missing.join(' ')}`);
      this.bufferKb = opts.bufferKb ?? bufferKbDefault();
      inst.write('tracing_on', '0');
      inst.write('buffer_size_kb', String(this.bufferKb));
      inst.write('options/record-tgid', '1');
      for (const e of this.events) inst.enable(e);
      if (flushFunctions.length) {
        inst.write('set_ftrace_filter', flushFunctions.join(' '));
        inst.write('current_tracer', 'function');
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Throws CaptureError before anything is touched when tracefs cannot be used. */
  static open(opts: SessionOptions): TraceSession {
    if (process.getuid?.() !== 0) throw new CaptureError('record and live need root (tracefs instances and KVM events): run with sudo');
    const { root, mounted } = findTracefs();
    if (mounted) opts.note(`mounted tracefs at ${root} (unmounted afterwards)`);
    if (!resolveEvents(join(root, 'events'), ['kvmmmu:*']).found.length) {
      if (mounted) unmountTracefs(root);
      throw new CaptureError(`this kernel has no kvmmmu tracepoints (${root}/events/kvmmmu): load KVM (modprobe kvm_intel or kvm_amd) and try again`);
    }
    const flushFunctions = opts.observeFlushes ? traceableFlushFunctions(root) : [];
    if (opts.observeFlushes && !flushFunctions.length) throw new CaptureError(`--observe-flushes: none of ${FLUSH_FUNCTIONS.join(', ')} can be traced on this kernel`);
    return new TraceSession(TracefsInstance.create(root, `mmu-trace-${process.pid}`), flushFunctions, mounted, opts);
  }

  /** The `# mmu-trace:` header of a recording of `command` in this session. */
  header(command: string[]): string {
    const host = hostInfo();
    let header = recordLine('recorded by', `mmu-trace ${TOOL_VERSION} record, ${new Date().toISOString()}`)
      + recordLine('command', command.length ? command.join(' ') : '-')
      + recordLine('kernel', host.kernel);
    for (const [m, params] of Object.entries(host.modules)) header += recordLine(`module ${m}`, paramsText(params));
    return header + recordLine('events', this.events.map((e) => e.replace('/', ':')).join(' '))
      + recordLine('missing events', this.missing.join(' ') || '-')
      + recordLine('flush functions', this.flushFunctions.join(' ') || '-')
      + recordLine('buffer', `${this.bufferKb} KiB per CPU, trace_clock ${/\[(\w+)\]/.exec(this.inst.read('trace_clock'))?.[1] ?? '?'}, record-tgid`);
  }

  /**
   * Turns tracing on and yields trace_pipe's bytes as they come (the pipe consumes them, so a long
   * run never overwrites itself) until `stopped()`; then turns tracing off and yields what is left.
   */
  async *stream(stopped: () => boolean): AsyncGenerator<Buffer> {
    this.pipeFd = openSync(this.inst.path('trace_pipe'), constants.O_RDONLY | constants.O_NONBLOCK);
    this.inst.write('tracing_on', '1');
    const read = (): Buffer | null => {
      const buf = Buffer.allocUnsafe(READ_BYTES);
      try {
        const n = readSync(this.pipeFd, buf, 0, READ_BYTES, null);
        return n > 0 ? buf.subarray(0, n) : null;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return null;
        throw e;
      }
    };
    while (!stopped()) {
      const b = read();
      if (b) yield b;
      else await sleep(POLL_MS);
    }
    this.inst.write('tracing_on', '0');
    for (let b = read(); b; b = read()) yield b;
  }

  /** The trailer of a recording: how it stopped, each CPU's overrun/dropped counts; and their total. */
  trailer(stopped: string): { text: string; lost: number } {
    const perCpu = this.inst.lostByCpu();
    return {
      text: recordLine('stopped', stopped) + recordLine('lost', perCpu.map((c) => `cpu${c.cpu} overrun=${c.overrun} dropped=${c.dropped}`).join(', ')),
      lost: perCpu.reduce((n, c) => n + c.overrun + c.dropped, 0),
    };
  }

  /** Removes the instance (nothing stays enabled); idempotent. */
  close(): void {
    if (this.pipeFd >= 0) closeSync(this.pipeFd);
    this.pipeFd = -1;
    const failed = this.inst.remove();
    if (failed) this.note(`could not restore tracefs fully: ${failed}`);
    if (this.mounted) unmountTracefs(this.inst.root);
    process.off('exit', this.teardown);
  }
}

/** Records one trace. Throws CaptureError before anything runs when tracefs cannot be set up. */
export async function record(opts: RecordOptions): Promise<RecordResult> {
  const session = TraceSession.open(opts);
  let outFd = -1;
  try {
    outFd = openSync(opts.output, 'w');
    writeSync(outFd, session.header(opts.command));
    let bytes = 0;
    let lines = 0;
    const stop = new Stopper(opts);
    if (opts.command.length) stop.run(opts.command, session.inst.path('trace_marker'));
    for await (const b of session.stream(() => stop.reason !== '')) {
      writeSync(outFd, b);
      bytes += b.length;
      for (let i = 0; i < b.length; i++) if (b[i] === 10) lines++;
    }
    const { text, lost } = session.trailer(stop.reason);
    writeSync(outFd, text);
    await stop.done();
    return { bytes, lines, lost, stopped: stop.reason, commandStatus: stop.status, missingEvents: session.missing };
  } finally {
    if (outFd >= 0) closeSync(outFd);
    session.close();
  }
}

/** When to stop: the command's exit, --duration, or a signal; a second SIGINT stops at once. */
export class Stopper {
  reason = '';
  status: number | null = null;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    if (this.reason || (sig === 'SIGINT' && this.interrupted)) {
      // the second Ctrl-C: tracefs is restored by the 'exit' handler on the way out
      this.child?.kill('SIGKILL');
      process.exit(130);
    }
    if (this.child && this.child.exitCode === null) {
      // a terminal's Ctrl-C reached the command too; kill -INT/-TERM of mmu-trace alone did not
      this.child.kill(sig);
      if (sig === 'SIGINT') this.interrupted = true;
      else this.reason = `${sig}`;
      return;
    }
    this.reason = sig;
  };
  private interrupted = false;
  private readonly timer: NodeJS.Timeout | null;

  constructor(private readonly opts: Pick<RecordOptions, 'durationS' | 'note'>) {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, this.onSignal);
    this.timer = opts.durationS !== undefined ? setTimeout(() => {
      if (this.child && this.child.exitCode === null) this.child.kill('SIGINT');
      this.reason ||= `--duration ${opts.durationS} s`;
    }, opts.durationS * 1000) : null;
  }

  run(argv: string[], marker: string): void {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env: { ...process.env, MMU_TRACE_MARKER: marker } });
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.on('error', (e) => {
        this.opts.note(`cannot run ${argv[0]}: ${(e as NodeJS.ErrnoException).code ?? e.message}`);
        this.status = 127;
        this.reason ||= 'command could not start';
        resolve();
      });
      child.on('exit', (code, signal) => {
        this.status = code ?? 128 + (signal ? osConstants.signals[signal] : 0);
        this.reason ||= this.interrupted ? 'SIGINT' : `command exited with status ${this.status}`;
        resolve();
      });
    });
  }

  /** After the stream: waits for the command, drops the timer and the signal handlers. */
  async done(): Promise<void> {
    await this.exited;
    if (this.timer) clearTimeout(this.timer);
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, this.onSignal);
  }
}
