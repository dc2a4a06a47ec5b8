// Notifications (finding 4) and aging (finding 5): per mmu-notifier event, its memslot overlap,
// what KVM did for it, and totals by source task.
import { taskLabel, type FactListener, type Notification } from '../model/facts.js';
import { FindingsTable, columnIndex } from './findings-table.js';

export const NOTIFICATION_COLUMNS = [
  { name: 'line', kind: 'int', doc: 'line of the notifier event' },
  { name: 'ts_ns', kind: 'int', doc: 'its time' },
  { name: 'kind', kind: 'str', doc: 'unmap (kvm_unmap_hva_range), age, test-age, change-pte' },
  { name: 'task', kind: 'str', doc: 'source task (comm-pid)' },
  { name: 'source', kind: 'str', doc: 'source task name without the pid (khugepaged, ksmd, kdamond.0, the VMM, ...)' },
  { name: 'vm', kind: 'str', doc: 'VM the notification is for' },
  { name: 'vm_by', kind: 'str', doc: 'how the VM was chosen: tgid, task (own VM), memslot (overlap), only-vm, none' },
  { name: 'hva_start', kind: 'int', doc: 'range start' },
  { name: 'hva_end', kind: 'int', doc: 'range end (exclusive)' },
  { name: 'overlap', kind: 'str', doc: 'inside | partial | outside the memslots | unknown' },
  { name: 'memslots', kind: 'str', doc: 'file (--memslots) | inferred (hva↔gfn learned from copy-on-write faults) | none' },
  { name: 'gfn_start', kind: 'int', doc: 'first gfn covered' },
  { name: 'gfn_end', kind: 'int', doc: 'gfn after the last covered' },
  { name: 'sptes_zapped', kind: 'int', doc: 'present leaves zapped (unmap)' },
  { name: 'young', kind: 'int', doc: 'leaves known young (Accessed set since KVM installed them)' },
  { name: 'young_unknown', kind: 'int', doc: 'leaves whose Accessed bit the trace cannot tell (the CPU sets it silently)' },
  { name: 'lock_taken', kind: 'bool', doc: 'KVM takes mmu_lock for it (no overlap: none since 5.13)' },
  { name: 'flush', kind: 'bool', doc: 'KVM flushes TLBs for it (rule in flushes.rule)' },
  { name: 'effect', kind: 'str', doc: 'none | some (zapped or aged a present SPTE)' },
  { name: 'evidence', kind: 'str', doc: 'inferred (memslots + kernel rule) | suspected (no memslots: overlap judged from known SPTEs)' },
] as const;

export interface SourceTotals {
  notifications: number;
  unmap: number;
  age: number;
  testAge: number;
  outside: number;
  noEffect: number;
  sptesZapped: number;
}

export interface NotificationsData {
  table: FindingsTable;
  total: number;
  noEffect: number;
  outsideMemslots: number;
  byOverlap: Record<string, number>;
  byTask: Record<string, SourceTotals>;
  aging: { ageCalls: number; testAgeCalls: number; young: number; youngUnknown: number; flushes: number; byTask: Record<string, { age: number; testAge: number; young: number }> };
}


export class NotificationsHandler implements FactListener {
  private readonly table = new FindingsTable('notifications', NOTIFICATION_COLUMNS);
  private readonly c = columnIndex(NOTIFICATION_COLUMNS);
  private readonly out: Omit<NotificationsData, 'table'> = {
    total: 0, noEffect: 0, outsideMemslots: 0, byOverlap: {}, byTask: {},
    aging: { ageCalls: 0, testAgeCalls: 0, young: 0, youngUnknown: 0, flushes: 0, byTask: {} },
  };

  onNotification(n: Notification): void {
    const t = this.table;
    const c = this.c;
    const r = t.add();
    const effect = n.sptesZapped > 0 || (n.kind === 'age' && n.young > 0) ? 'some' : 'none';
    t.num(c.line, r, n.line);
    t.num(c.ts_ns, r, n.ts);
    t.str(c.kind, r, n.kind);
    t.str(c.task, r, taskLabel(n.task));
    t.str(c.source, r, n.task.comm);
    t.str(c.vm, r, n.vm);
    t.str(c.vm_by, r, n.vmBy);
    t.num(c.hva_start, r, n.hvaStart);
    t.num(c.hva_end, r, n.hvaEnd);
    t.str(c.overlap, r, n.overlap);
    t.str(c.memslots, r, n.memslotSource);
    t.num(c.gfn_start, r, n.gfnStart >= 0 ? n.gfnStart : null);
    t.num(c.gfn_end, r, n.gfnEnd >= 0 ? n.gfnEnd : null);
    t.num(c.sptes_zapped, r, n.sptesZapped);
    t.num(c.young, r, n.young);
    t.num(c.young_unknown, r, n.youngUnknown);
    t.num(c.lock_taken, r, n.lockTaken);
    t.num(c.flush, r, n.flush);
    t.str(c.effect, r, effect);
    t.str(c.evidence, r, n.evidence);
    const o = this.out;
    o.total++;
    if (effect === 'none') o.noEffect++;
    if (n.overlap === 'outside') o.outsideMemslots++;
    o.byOverlap[n.overlap] = (o.byOverlap[n.overlap] ?? 0) + 1;
    const s = (o.byTask[n.task.comm] ??= { notifications: 0, unmap: 0, age: 0, testAge: 0, outside: 0, noEffect: 0, sptesZapped: 0 });
    s.notifications++;
    if (n.kind === 'unmap') s.unmap++;
    if (n.kind === 'age') s.age++;
    if (n.kind === 'test-age') s.testAge++;
    if (n.overlap === 'outside') s.outside++;
    if (effect === 'none') s.noEffect++;
    s.sptesZapped += n.sptesZapped;
    if (n.kind === 'age' || n.kind === 'test-age') {
      const a = o.aging;
      const at = (a.byTask[n.task.comm] ??= { age: 0, testAge: 0, young: 0 });
      if (n.kind === 'age') {
        a.ageCalls++;
        at.age++;
      } else {
        a.testAgeCalls++;
        at.testAge++;
      }
      a.young += n.young;
      at.young += n.young;
      a.youngUnknown += n.youngUnknown;
      if (n.flush) a.flushes++;
    }
  }

  data(): NotificationsData {
    const sortKeys = <T>(r: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)));
    return {
      ...this.out, table: this.table, byOverlap: sortKeys(this.out.byOverlap), byTask: sortKeys(this.out.byTask),
      aging: { ...this.out.aging, byTask: sortKeys(this.out.aging.byTask) },
    };
  }
}
