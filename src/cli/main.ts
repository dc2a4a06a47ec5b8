#!/usr/bin/env node
// mmu-trace command line: thin yargs commands over the pipeline. DuckDB is imported only by the
// verbs that need it, so `analyze` never loads it; `--help` loads no pipeline module at all.
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { InputError } from '../ingest/errors.js';
import { ROLE_LAYOUTS, type RoleLayoutName } from '../ingest/role.js';
import type { Format } from '../ingest/sniff.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';
import type { PipelineOptions } from '../pipeline/analyze.js';
import { loadMemslotsFile } from '../model/memslots.js';
import { roleLayoutOfVersion, rulesFromOption } from '../model/kernel-version.js';
import type { WhatIfPolicy } from '../analyses/what-if.js';
import { EVENT_PRESETS, type PresetName } from '../capture/events.js';
import { CaptureError } from '../capture/tracefs.js';
import type { AnalyzeReport } from '../report/contract.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';

/** Exit codes of design.md §7. */
export const EXIT = { ok: 0, internal: 1, usage: 2, input: 3, failOn: 4, capture: 5 } as const;

class UsageError extends Error {}

/** An input that ended early: the result covers what was read, said on stderr, and exit code 3. */
function inputCut(source: string): (why: string, lines: number) => void {
  return (why, lines) => {
    process.stderr.write(`mmu-trace: ${source}: ${why}; the result covers the first ${lines} lines\n`);
    process.exitCode = EXIT.input;
  };
}

interface CommonArgs {
  'input-format'?: Format;
  'role-layout'?: RoleLayoutName;
  memslots?: string;
  kernel?: string;
}

/** Runs an ingest with a progress bar on stderr (a TTY only, after a second). */
async function withProgress<T>(path: string, job: (onProgress: (bytesIn: number) => void) => Promise<T>): Promise<T> {
  const { IngestProgress } = await import('./progress.js');
  const p = IngestProgress.forPath(path);
  try {
    return await job(p.update);
  } finally {
    p.stop();
  }
}

async function whatIfOption(spec: string | undefined): Promise<WhatIfPolicy[] | undefined> {
  if (spec === undefined) return undefined;
  const { parseWhatIf } = await import('../analyses/what-if.js');
  try {
    return parseWhatIf(spec);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function pipelineOptions(a: CommonArgs): PipelineOptions {
  let model: PipelineOptions['model'];
  try {
    model = {
      memslots: a.memslots ? loadMemslotsFile(a.memslots) : null,
      ...(a.kernel ? { rules: rulesFromOption(a.kernel) } : {}),
    };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  // --kernel names the role layout too, unless --role-layout says otherwise
  const roleLayout = a['role-layout'] ?? (a.kernel ? roleLayoutOfVersion(a.kernel) : undefined);
  return { format: a['input-format'], roleLayout, model };
}

function withInputOptions<T>(y: Argv<T>) {
  return y
    .option('input-format', {
      choices: ['ftrace', 'trace_pipe', 'trace-cmd', 'perf', 'trace.dat', 'perf.data'] as const,
      describe: 'skip format sniffing',
    })
    .option('role-layout', {
      choices: Object.keys(ROLE_LAYOUTS) as RoleLayoutName[],
      describe: 'kvm_mmu_page_role layout for raw role words (v4 <=5.0, v5.1 5.1-5.16, v5.17 5.17-7.1, v7.2 >=7.2)',
    })
    .option('memslots', {
      type: 'string',
      describe: 'a JSON file: an array of {slot, as_id, base_gfn, npages, userspace_addr[, vm]}; without it hva<->gfn is inferred',
    })
    .option('kernel', {
      type: 'string',
      describe: 'host kernel version (e.g. 6.12): its MMU rules, SPTE layout and role layout; default: from the trace, else the newest',
    });
}

function withOutputOptions<T>(y: Argv<T>) {
  return y
    .option('json', { type: 'boolean', describe: 'rows as JSON' })
    .option('csv', { type: 'boolean', describe: 'rows as CSV' })
    .option('safe', { type: 'boolean', default: false, describe: 'the SQL may read no file but the source and write none (for traces and queries from others)' })
    .option('hex', { type: 'boolean', default: false, describe: 'table and CSV: gfn, spte, hva, addr and the other columns the kernel prints in hex, in hex (0x...)' })
    .conflicts('json', 'csv');
}

function sqlOutput(a: { json?: boolean; csv?: boolean }): 'json' | 'csv' | 'table' {
  return a.json ? 'json' : a.csv ? 'csv' : 'table';
}

/** stdin's bytes until `stopped()` (checked as each chunk arrives, and on SIGINT/SIGTERM, which end stdin). */
async function* stdinUntil(stopped: () => boolean): AsyncGenerator<Buffer> {
  const end = (): void => void process.stdin.destroy();
  process.once('SIGINT', end).once('SIGTERM', end);
  try {
    for await (const b of process.stdin) {
      yield b as Buffer;
      if (stopped()) return;
    }
  } catch {
    // stdin ended by a signal: the counts so far are the result
  } finally {
    process.off('SIGINT', end).off('SIGTERM', end);
  }
}

/** Every line was skipped (a wrong --input-format, a file of something else): the report says why, and exit 3. */
function nothingRead(source: string, r: AnalyzeReport): void {
  if (r.input.events > 0 || r.input.skippedLines === 0) return;
  const [reason] = Object.entries(r.input.skippedByReason).sort((x, y) => y[1] - x[1]);
  process.stderr.write(`mmu-trace: ${source}: no line read as ${r.input.format} text (${r.input.skippedLines} skipped, most: ${reason![0]})${r.input.formatReason.startsWith('given') ? '; check --input-format' : ''}\n`);
  process.exitCode = EXIT.input;
}

/** yargs hands a positional '-' (stdin) over as ''. */
function inputPath(p: string): string {
  return p === '' ? '-' : p;
}

function useColor(flag: boolean | undefined): boolean {
  if (flag !== undefined) return flag;
  return process.stdout.isTTY === true && !('NO_COLOR' in process.env);
}

const REPORT_FORMATS = ['text', 'md', 'lkml', 'json', 'html'] as const;
type ReportFormat = (typeof REPORT_FORMATS)[number];

/** --format, else what `-o`'s extension names (report.html, saved.json, cover.md), else text. */
function reportFormat(a: { format?: ReportFormat | undefined; o?: string | undefined }): ReportFormat {
  if (a.format) return a.format;
  const ext = /\.(html?|json|md|txt)$/i.exec(a.o ?? '')?.[1]?.toLowerCase();
  return ext === 'html' || ext === 'htm' ? 'html' : ext === 'json' ? 'json' : ext === 'md' ? 'md' : 'text';
}

/** The report in one format, written to `-o FILE` or stdout (`analyze` and `report`). */
async function writeReport(report: AnalyzeReport, opts: { format?: ReportFormat | undefined; o?: string | undefined; color?: boolean | undefined }): Promise<void> {
  const a = { ...opts, format: reportFormat(opts) };
  let out: string;
  if (a.format === 'json') out = `${JSON.stringify(report, null, 2)}\n`;
  else if (a.format === 'text') out = (await import('../report/text.js')).renderText(report, { color: a.o === undefined && useColor(a.color) });
  else if (a.format === 'html') out = (await import('../report/html.js')).renderHtml(report);
  else out = (await import('../report/markdown.js')).renderMarkdown(report);
  if (a.o === undefined) process.stdout.write(out);
  else writeFileSync(a.o, out);
}

/** A JSON report saved by `analyze --format json`; refuses anything else (exit 3). */
function readSavedReport(path: string): AnalyzeReport {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(path, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message);
  }
  let r: Partial<AnalyzeReport> | null;
  try {
    r = JSON.parse(text) as Partial<AnalyzeReport> | null;
  } catch (e) {
    throw new InputError(path, `not JSON: ${(e as Error).message}`);
  }
  if (r?.schemaVersion !== 1 || r.tool?.name !== TOOL_NAME || !r.input || !r.kernel || !r.events) {
    throw new InputError(path, 'not an mmu-trace JSON report (analyze --format json; schemaVersion 1)');
  }
  if (r.findings && !r.findings.timeline) throw new InputError(path, 'the report has no findings.timeline (saved by an older mmu-trace): run analyze again');
  return r as AnalyzeReport;
}

const NO_COMMAND = 'name a command: analyze, report, compare, convert, sql, query, queries, record, live';

async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName('mmu-trace')
    .version(TOOL_VERSION)
    .help()
    .alias('h', 'help')
    .strict()
    .parserConfiguration({ 'populate--': true })
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .command(
      'analyze <trace>',
      'summarize a trace (file, .gz, or - for stdin)',
      (y) => withInputOptions(y.positional('trace', { type: 'string', demandOption: true }))
        .option('format', {
          choices: REPORT_FORMATS,
          describe: 'report format: text (terminal, <= 100 columns), md / lkml (plain ASCII <= 80 columns, pastes into mail), json, html (self-contained, with charts); default: by -o\'s extension (.html, .json, .md), else text',
        })
        .option('o', { alias: 'output', type: 'string', describe: 'write the report to this file instead of stdout' })
        .option('color', { type: 'boolean', describe: 'colour the text report (default: on a TTY unless NO_COLOR)' })
        .option('what-if', {
          type: 'string',
          describe: 'counterfactual counts: skip-unchanged, no-age-flush, memslot-elision, batch=N (comma-separated)',
        }),
      async (a) => {
        const { analyzeTrace } = await import('../pipeline/analyze.js');
        const whatIf = await whatIfOption(a['what-if']);
        const report = await withProgress(inputPath(a.trace), (onProgress) => analyzeTrace(inputPath(a.trace), {
          ...pipelineOptions(a), whatIf, onProgress,
        }));
        await writeReport(report, a);
        nothingRead(a.trace, report);
        if (report.input.truncated) {
          // the report covers what could be read; the input itself was not whole
          process.stderr.write(`mmu-trace: ${a.trace}: ${report.input.truncated}; the report covers the first ${report.input.lines} lines\n`);
          process.exitCode = EXIT.input;
        }
      },
    )
    .command(
      'report <saved>',
      'render a saved JSON report (analyze --format json) in another format, e.g. html',
      (y) => y.positional('saved', { type: 'string', demandOption: true, describe: 'a JSON report file' })
        .option('format', { choices: REPORT_FORMATS, describe: 'report format (as analyze; default: by -o\'s extension, else text)' })
        .option('o', { alias: 'output', type: 'string', describe: 'write the report to this file instead of stdout' })
        .option('color', { type: 'boolean', describe: 'colour the text report (default: on a TTY unless NO_COLOR)' }),
      async (a) => {
        await writeReport(readSavedReport(a.saved), a);
      },
    )
    .command(
      'compare <before> <after>',
      'replay two traces and show every headline figure side by side, with changes and normalised rates',
      (y) => withInputOptions(y.positional('before', { type: 'string', demandOption: true })
        .positional('after', { type: 'string', demandOption: true }))
        .option('format', { choices: ['text', 'md', 'lkml', 'json'] as const, default: 'text' as const, describe: 'report format' })
        .option('color', { type: 'boolean', describe: 'colour the text report (default: on a TTY unless NO_COLOR)' })
        .option('what-if', { type: 'string', describe: 'also compare these what-if policies (see analyze)' })
        .option('fail-on', {
          type: 'string',
          describe: `exit ${EXIT.failOn} if any holds: [delta.|relative.]FIGURE OP NUMBER, comma-separated (e.g. redundantZaps.count>0)`,
        }),
      async (a) => {
        const { compareReports, compareDocument, evaluateFailOn } = await import('../report/compare.js');
        const opts = { ...pipelineOptions(a), whatIf: await whatIfOption(a['what-if']) };
        const { analyzeTrace } = await import('../pipeline/analyze.js');
        const run = (path: string): Promise<AnalyzeReport> => withProgress(path, (onProgress) => analyzeTrace(path, { ...opts, onProgress }));
        const [before, after] = [await run(inputPath(a.before)), await run(inputPath(a.after))];
        const c = compareReports(before, after);
        if (a['fail-on'] !== undefined) {
          try {
            c.failOn = evaluateFailOn(c, a['fail-on']);
          } catch (e) {
            throw new UsageError((e as Error).message);
          }
        }
        const doc = compareDocument(c);
        process.stdout.write(a.format === 'json' ? `${JSON.stringify(c, null, 2)}\n`
          : a.format === 'text' ? (await import('../report/text.js')).layoutText(doc, { color: useColor(a.color) }) : (await import('../report/markdown.js')).layoutMarkdown(doc));
        if (c.failOn?.some((r) => r.failed)) process.exitCode = EXIT.failOn;
        for (const [name, r] of [[a.before, before], [a.after, after]] as const) {
          nothingRead(name, r);
          if (r.input.truncated) inputCut(name)(r.input.truncated, r.input.lines);
        }
      },
    )
    .command(
      'convert <trace>',
      'write the events table to Parquet or Arrow IPC',
      (y) => withInputOptions(y.positional('trace', { type: 'string', demandOption: true }))
        .option('o', { alias: 'output', type: 'string', demandOption: true, describe: 'out.parquet or out.arrow' }),
      async (a) => {
        const { convertTrace } = await import('../store/convert.js');
        const out = a.o;
        if (!/\.(parquet|arrow|feather|ipc)$/.test(out)) throw new UsageError(`-o ${out}: expected a .parquet or .arrow file name`);
        // the model options are still checked, but convert only ingests (no replay)
        const r = await convertTrace(inputPath(a.trace), out, pipelineOptions(a));
        process.stderr.write(`wrote ${r.events} events${r.lostMarks ? ` and ${r.lostMarks} lost-event marks (rows with event 'lost_events')` : ''} to ${out}\n`);
        if (r.truncated) {
          // what could be read is written; the input itself was not whole
          process.stderr.write(`mmu-trace: ${a.trace}: ${r.truncated}; ${out} holds the first ${r.lines} lines\n`);
          process.exitCode = EXIT.input;
        }
      },
    )
    .command(
      'sql <source> <query>',
      'run SQL over the events table of a trace, .parquet or .arrow file',
      (y) => withOutputOptions(withInputOptions(y.positional('source', { type: 'string', demandOption: true })
        .positional('query', { type: 'string', demandOption: true }))),
      async (a) => {
        const { runSql } = await import('../store/sql.js');
        process.stdout.write(await runSql(inputPath(a.source), a.query, { ...pipelineOptions(a), output: sqlOutput(a), safe: a.safe, hex: a.hex, onInputCut: inputCut(a.source) }));
      },
    )
    .command(
      'query <name> <source>',
      'run a canned query from queries/<name>.sql (list them: mmu-trace queries)',
      (y) => withOutputOptions(withInputOptions(y.positional('name', { type: 'string', demandOption: true })
        .positional('source', { type: 'string', demandOption: true }))),
      async (a) => {
        const { runNamedQuery } = await import('../store/sql.js');
        process.stdout.write(await runNamedQuery(a.name, inputPath(a.source), { ...pipelineOptions(a), output: sqlOutput(a), safe: a.safe, hex: a.hex, onInputCut: inputCut(a.source) }));
      },
    )
    .command(
      'record [command..]',
      'record a trace of COMMAND (after --) or until Ctrl-C, in a private tracefs instance (root)',
      (y) => y
        .positional('command', { type: 'string', array: true, describe: 'what to run while recording (after --); MMU_TRACE_MARKER names the trace_marker' })
        .option('o', { alias: 'output', type: 'string', default: 'mmu-trace.txt', describe: 'the trace text file' })
        .option('events', { choices: Object.keys(EVENT_PRESETS) as PresetName[], default: 'default' as PresetName, describe: 'event preset (README: Capture)' })
        .option('buffer-kb', { type: 'number', describe: 'ring buffer per CPU in KiB (default: 64 MiB, less on small machines)' })
        .option('duration', { type: 'number', describe: 'stop after S seconds' })
        .option('observe-flushes', { type: 'boolean', default: false, describe: "function-trace KVM's remote TLB flushes, to check the flush model" })
        .option('print-setup', { type: 'boolean', default: false, describe: 'print the equivalent trace-cmd / perf / tracefs commands and exit' }),
      async (a) => {
        const { record, bufferKbDefault } = await import('../capture/record.js');
        const command = [...(a.command ?? []), ...((a['--'] as string[] | undefined) ?? [])].map(String);
        if (a['buffer-kb'] !== undefined && !(Number.isInteger(a['buffer-kb']) && a['buffer-kb'] > 0)) throw new UsageError('--buffer-kb: a positive number of KiB');
        if (a.duration !== undefined && !(a.duration > 0)) throw new UsageError('--duration: a positive number of seconds');
        if (a['print-setup']) {
          const { printSetup } = await import('../capture/setup.js');
          process.stdout.write(printSetup(a.events, a['buffer-kb'] ?? bufferKbDefault(), command, a['observe-flushes']));
          return;
        }
        if (!command.length && a.duration === undefined) process.stderr.write('mmu-trace: recording until Ctrl-C\n');
        const note = (t: string): void => void process.stderr.write(`mmu-trace: ${t}\n`);
        const r = await record({
          output: a.o, preset: a.events, command, observeFlushes: a['observe-flushes'], note,
          ...(a['buffer-kb'] !== undefined ? { bufferKb: a['buffer-kb'] } : {}),
          ...(a.duration !== undefined ? { durationS: a.duration } : {}),
        });
        note(`${r.lines} lines (${r.bytes} bytes) to ${a.o}; ${r.lost} events lost; stopped: ${r.stopped}`);
        if (r.lost > 0) note(`the ring buffer lost events: record again with a larger --buffer-kb (now ${a['buffer-kb'] ?? bufferKbDefault()})`);
        note(`next: mmu-trace analyze ${a.o}`);
        // the command's failure is the caller's to see, as if it had run alone
        if (r.commandStatus) process.exitCode = r.commandStatus;
      },
    )
    .command(
      'live [source]',
      'rolling findings per VM every interval, from a private tracefs instance (root) or - (stdin, e.g. cat trace_pipe |); Ctrl-C prints the totals',
      (y) => withInputOptions(y
        .positional('source', { type: 'string', describe: "'-' reads trace text from stdin; default: trace this machine" }))
        .option('interval', { type: 'number', default: 1, describe: 'seconds between updates' })
        .option('vm', { type: 'number', describe: 'only the VM of this VMM pid (its TGID)' })
        .option('format', { choices: ['text', 'json'] as const, default: 'text' as const, describe: 'text: a redrawn table on a terminal, one line per VM and interval otherwise; json: NDJSON' })
        .option('events', { choices: Object.keys(EVENT_PRESETS) as PresetName[], default: 'default' as PresetName, describe: 'event preset (as record)' })
        .option('buffer-kb', { type: 'number', describe: 'ring buffer per CPU in KiB (as record)' })
        .option('observe-flushes', { type: 'boolean', default: false, describe: 'as record' })
        .option('duration', { type: 'number', describe: 'stop after S seconds' }),
      async (a) => {
        if (!(a.interval > 0)) throw new UsageError('--interval: a positive number of seconds');
        const { runLive } = await import('../pipeline/live.js');
        const { renderLive, vmFilter } = await import('../report/live.js');
        const { Stopper, TraceSession } = await import('../capture/record.js');
        const note = (t: string): void => void process.stderr.write(`mmu-trace: ${t}\n`);
        const stdin = a.source === '' || a.source === '-';
        if (a.source !== undefined && !stdin) throw new UsageError(`live reads this machine's tracefs, or - for stdin; for a file use analyze ${a.source}`);
        const tty = process.stdout.isTTY === true && a.format === 'text';
        const format = a.format === 'json' ? 'json' : tty ? 'table' : 'lines';
        const stop = new Stopper({ note, ...(a.duration !== undefined ? { durationS: a.duration } : {}) });
        const session = stdin ? null : TraceSession.open({ preset: a.events, observeFlushes: a['observe-flushes'], note, ...(a['buffer-kb'] !== undefined ? { bufferKb: a['buffer-kb'] } : {}) });
        const view = { source: stdin ? 'stdin' : `${session!.inst.dir}`, intervalS: a.interval, events: 0, keep: vmFilter(a.vm), final: false };
        const show = (text: string): void => void process.stdout.write(tty ? `\x1b[H\x1b[2J${text}` : text);
        const input = pipelineOptions(a);
        // tracing this machine: its own kernel's rules, as a recording's header gives them
        const { rulesFromRecording } = await import('../model/kernel-version.js');
        const own = session && !a.kernel ? rulesFromRecording(release()) : null;
        try {
          const r = await runLive({
            name: stdin ? '-' : view.source,
            stream: session ? session.stream(() => stop.reason !== '') : stdinUntil(() => stop.reason !== ''),
            ...(session ? { format: 'trace_pipe' as const } : input.format ? { format: input.format } : {}),
            ...(input.roleLayout ? { roleLayout: input.roleLayout } : {}),
            intervalS: a.interval,
            onTick: (snap, events) => show(renderLive(snap, { ...view, events }, format, useColor(undefined))),
            model: { ...(input.model || {}), ...(own ? { rules: own } : {}) },
          });
          show(renderLive(r.final, { ...view, events: r.events, final: true }, format, useColor(undefined)));
          if (r.ingest.lostEvents > 0) note(`the ring buffer lost ${r.ingest.lostEvents} events: counts are low; a larger --buffer-kb helps`);
          if (r.ingest.skippedLines > 0) note(`${r.ingest.skippedLines} lines skipped (${Object.entries(r.ingest.skippedByReason).map(([k, n]) => `${k}: ${n}`).join(', ')})`);
        } finally {
          session?.close();
          await stop.done();
        }
      },
    )
    .command(
      'queries',
      'list the canned queries',
      (y) => y,
      async () => {
        const { listQueries } = await import('../store/queries.js');
        for (const q of listQueries()) process.stdout.write(`${q.name.padEnd(20)} ${q.summary}\n`);
      },
    )
    .demandCommand(1, NO_COMMAND)
    .fail((msg, err, y) => {
      // the bare command: every verb with what it does, then the usage error
      if (!err && msg === NO_COMMAND) y.showHelp((s: string) => process.stderr.write(`${s}\n\n`));
      throw err ?? new UsageError(msg);
    })
    .parseAsync();
}

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  // a closed pipe (| head) is not an error of ours
  if (err.code === 'EPIPE') process.exit(EXIT.ok);
});

main(hideBin(process.argv)).catch((err: unknown) => {
  if (err instanceof InputError) {
    process.stderr.write(`mmu-trace: ${err.message}\n`);
    process.exitCode = EXIT.input;
  } else if (err instanceof CaptureError) {
    process.stderr.write(`mmu-trace: ${err.message}\n`);
    process.exitCode = EXIT.capture;
  } else if (err instanceof UsageError || (err as Error).name === 'QueryError' || (err as Error).name === 'OutputError') {
    process.stderr.write(`mmu-trace: ${(err as Error).message}\n(see mmu-trace --help)\n`);
    process.exitCode = EXIT.usage;
  } else {
    const e = err as Error;
    process.stderr.write(`mmu-trace: internal error: ${e.message}\n`);
    if (process.env.MMU_TRACE_DEBUG) process.stderr.write(`${e.stack}\n`);
    process.exitCode = EXIT.internal;
  }
});
