// Host-side events that give the MMU events their context: TLB flushes of the host mm, scheduler
// switches and wakeups (contention, lock breaks), and trace markers. Formats from the kernel's
// format files (traces/env/formats) and trace-cmd's own plugins (kvm-mmu-reference.md §7.3).
import { C } from '../schema.js';
import type { Cursor } from '../cursor.js';
import type { RowWriter } from '../row.js';

/** tlb_flush: "pages:%ld reason:%s (%d)"; trace-cmd prints "pages=%ld reason=%s (%d)". */
export function decodeTlbFlush(c: Cursor, w: RowWriter): boolean {
  const sep = c.lit('pages:') ? ':' : c.lit('pages=') ? '=' : '';
  if (sep === '' || !c.decTo(w, C.pages) || !c.lit(` reason${sep}`)) return false;
  const open = c.s.lastIndexOf(' (', c.end);
  if (open < c.i) return false;
  c.strTo(w, C.flush_reason, open);
  return c.lit(' (') && c.decTo(w, C.reason_code) && c.lit(')') && c.done;
}

/** `key=value` into a column, where the value runs up to `nextKey` (a comm may contain spaces). */
function keyedText(c: Cursor, w: RowWriter, col: number, key: string, nextKey: string): boolean {
  if (!c.lit(key)) return false;
  const j = c.find(nextKey);
  return j >= 0 && c.strTo(w, col, j);
}

/** `comm:pid [prio]` as trace-cmd's sched plugin prints a task. */
function pluginTask(c: Cursor, w: RowWriter, comm: number, pid: number, prio: number, stop: string): boolean {
  const end = stop === '' ? c.end : c.find(stop);
  if (end < 0) return false;
  const bracket = c.s.lastIndexOf(' [', end);
  const colon = c.s.lastIndexOf(':', bracket);
  if (bracket < c.i || colon < c.i) return false;
  c.strTo(w, comm, colon);
  return c.lit(':') && c.decTo(w, pid) && c.lit(' [') && c.decTo(w, prio) && c.lit(']');
}

/**
 * sched_switch: "prev_comm=%s prev_pid=%d prev_prio=%d prev_state=%s%s ==> next_comm=%s next_pid=%d next_prio=%d";
 * trace-cmd: "%s:%d [%d] %s ==> %s:%d [%d]".
 */
export function decodeSchedSwitch(c: Cursor, w: RowWriter): boolean {
  if (c.s.startsWith('prev_comm=', c.i)) {
    if (!keyedText(c, w, C.prev_comm, 'prev_comm=', ' prev_pid=')) return false;
    if (!c.lit(' prev_pid=') || !c.decTo(w, C.prev_pid) || !c.lit(' prev_prio=') || !c.decTo(w, C.prev_prio)) return false;
    if (!keyedText(c, w, C.prev_state, ' prev_state=', ' ==> ')) return false;
    if (!keyedText(c, w, C.next_comm, ' ==> next_comm=', ' next_pid=')) return false;
    return c.lit(' next_pid=') && c.decTo(w, C.next_pid) && c.lit(' next_prio=') && c.decTo(w, C.next_prio) && c.done;
  }
  if (!pluginTask(c, w, C.prev_comm, C.prev_pid, C.prev_prio, ' ==> ') || !c.lit(' ')) return false;
  const arrow = c.find(' ==> ');
  if (arrow < 0) return false;
  c.strTo(w, C.prev_state, arrow);
  return c.lit(' ==> ') && pluginTask(c, w, C.next_comm, C.next_pid, C.next_prio, '') && c.done;
}

/**
 * sched_wakeup: "comm=%s pid=%d prio=%d[ success=1] target_cpu=%03d"; trace-cmd: "%s:%d [%d][ success=1] CPU:%03d".
 * The woken task goes to next_comm / next_pid / next_prio.
 */
export function decodeSchedWakeup(c: Cursor, w: RowWriter): boolean {
  if (c.s.startsWith('comm=', c.i)) {
    if (!keyedText(c, w, C.next_comm, 'comm=', ' pid=')) return false;
    if (!c.lit(' pid=') || !c.decTo(w, C.next_pid) || !c.lit(' prio=') || !c.decTo(w, C.next_prio)) return false;
    c.lit(' success=1');
    return c.lit(' target_cpu=') && c.decTo(w, C.target_cpu) && c.done;
  }
  if (!pluginTask(c, w, C.next_comm, C.next_pid, C.next_prio, c.find(' success=') >= 0 ? ' success=' : ' CPU:')) return false;
  c.lit(' success=1');
  return c.lit(' CPU:') && c.decTo(w, C.target_cpu) && c.done;
}

/** function (the function tracer): ftrace "func <-parent", trace-cmd's function plugin "func <-- parent". */
export function decodeFunction(c: Cursor, w: RowWriter): boolean {
  const sp = c.find(' <-');
  if (sp <= c.i || c.s.lastIndexOf(' ', sp - 1) >= c.i) return false;
  c.strTo(w, C.func, sp);
  c.lit(' <-');
  c.lit('- ');
  const rest = c.rest();
  if (rest === '' || rest.includes(' ')) return false;
  w.str(C.caller, rest);
  return true;
}

/** tracing_mark_write (ftrace print event): the marker text. */
export function decodeMarker(c: Cursor, w: RowWriter): boolean {
  w.str(C.payload, c.rest());
  return true;
}
