// `record --print-setup`: the same capture as trace-cmd, perf and plain tracefs commands, for
// machines where mmu-trace does not run. Events are those of the preset that this kernel has,
// or the whole preset when its tracefs cannot be read.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVENT_PRESETS, splitSpec, type EventSpec, type PresetName } from './events.js';
import { FLUSH_FUNCTIONS } from '../model/flush-rules.js';
import { resolveEvents } from './tracefs.js';

const TRACEFS = '/sys/kernel/tracing';

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function printSetup(preset: PresetName, bufferKb: number, command: string[], observeFlushes: boolean): string {
  let events: readonly EventSpec[] = EVENT_PRESETS[preset].events;
  let origin = `the '${preset}' preset`;
  if (existsSync(join(TRACEFS, 'events'))) {
    const { missing } = resolveEvents(join(TRACEFS, 'events'), events);
    events = events.filter((e) => !missing.includes(e));
    origin += `, without the ${missing.length} this kernel lacks${missing.length ? ` (${missing.join(' ')})` : ''}`;
  } else {
    origin += ' (tracefs not readable here: drop the events your kernel lacks, or the tools refuse to start)';
  }
  const cmd = command.length ? command.map(shellQuote).join(' ') : 'COMMAND';
  const e = (prefix: string): string => events.map((ev) => `${prefix} ${shellQuote(ev)}`).join(' ');
  // the flush entry points this kernel has, when it lets us read them (not under lockdown)
  let functions = FLUSH_FUNCTIONS;
  try {
    const avail = new Set(readFileSync(join(TRACEFS, 'available_filter_functions'), 'utf8').split('\n').map((l) => l.split(/\s/)[0]));
    functions = FLUSH_FUNCTIONS.filter((f) => avail.has(f));
  } catch {
    if (observeFlushes) origin += `; flush functions: those of ${FLUSH_FUNCTIONS.join(' ')} in your kernel's available_filter_functions`;
  }
  const flushes = observeFlushes ? ` -p function ${functions.map((f) => `-l ${f}`).join(' ')}` : '';
  const lines = [
    `# events: ${origin}`,
    '',
    '# trace-cmd (its own instance; record-tgid so VMs are told apart by process):',
    `trace-cmd record -B mmu-trace -b ${bufferKb} -O record-tgid${flushes} ${e('-e')} -o trace.dat -- ${cmd}`,
    'trace-cmd report -i trace.dat > trace.txt   # mmu-trace also reads trace.dat itself',
    '',
    '# perf (tracepoints only: perf record cannot add function-trace lines):',
    `perf record -a -m 8M ${e('-e')} -o perf.data -- ${cmd}`,
    'perf script -i perf.data > trace.txt',
    '',
    '# plain tracefs, as mmu-trace record does it:',
    `I=${TRACEFS}/instances/mmu-trace; mkdir $I`,
    `echo ${bufferKb} > $I/buffer_size_kb; echo 1 > $I/options/record-tgid`,
    ...events.map((ev) => {
      const { group, name } = splitSpec(ev);
      return `echo 1 > $I/events/${group}${name === '*' ? '' : `/${name}`}/enable`;
    }),
    ...(observeFlushes ? [`echo '${functions.join(' ')}' > $I/set_ftrace_filter; echo function > $I/current_tracer`] : []),
    `cat $I/trace_pipe > trace.txt & echo 1 > $I/tracing_on; ${cmd}; echo 0 > $I/tracing_on`,
    'kill %1; echo 0 > $I/events/enable; echo nop > $I/current_tracer; rmdir $I',
  ];
  return `${lines.join('\n')}\n`;
}
