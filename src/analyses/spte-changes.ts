// Every SPTE change the model derived, classified once (model/spte.ts classifyChange) and counted by
// kind; a row for each change other than an install (the trace's own event) or a leaf zap (`zaps`).
// And every shadow page's life: created, zapped (and the second zap of an in-use root).
import { taskLabel, type FactListener, type HugeSplit, type ShadowPageEvent, type SpteChange } from '../model/facts.js';
import { FindingsTable, columnIndex } from './findings-table.js';

export const SPTE_CHANGE_COLUMNS = [
  { name: 'line', kind: 'int', doc: 'line of the event the change comes from' },
  { name: 'ts_ns', kind: 'int', doc: 'its time' },
  { name: 'vm', kind: 'str', doc: 'VM id' },
  { name: 'as_id', kind: 'int', doc: 'address space' },
  { name: 'gfn', kind: 'int', doc: 'guest frame' },
  { name: 'level', kind: 'int', doc: 'SPTE level' },
  { name: 'sptep', kind: 'int', doc: 'SPTE address (shadow MMU), null on TDP' },
  { name: 'kind', kind: 'str', doc: 'install, zap, link, unlink, collapse, split, pfn-change, write-protect, downgrade, upgrade, dirty-clear, accessed-clear, ad-set, mmio, freeze, nonpresent' },
  { name: 'old_spte', kind: 'u64', doc: 'value before (0 when none)' },
  { name: 'new_spte', kind: 'u64', doc: 'value after' },
  { name: 'op', kind: 'str', doc: 'operation kind' },
  { name: 'op_id', kind: 'int', doc: 'operation id' },
  { name: 'evidence', kind: 'str', doc: 'observed | inferred | suspected' },
] as const;

export const SHADOW_PAGE_COLUMNS = [
  { name: 'line', kind: 'int', doc: 'line of kvm_mmu_get_page (created) or kvm_mmu_prepare_zap_page' },
  { name: 'ts_ns', kind: 'int', doc: 'its time' },
  { name: 'vm', kind: 'str', doc: 'VM id' },
  { name: 'action', kind: 'str', doc: 'created | zapped | zapped-in-use (root still referenced) | freed-root (second zap, §5.2: not redundant)' },
  { name: 'gen', kind: 'int', doc: 'sp->mmu_valid_gen' },
  { name: 'gfn', kind: 'int', doc: 'sp gfn' },
  { name: 'level', kind: 'int', doc: 'role.level' },
  { name: 'role', kind: 'str', doc: 'role fields (level/gpte bytes/quadrant/direct/access/nx/ad/as_id)' },
  { name: 'root_count', kind: 'int', doc: 'root_count printed' },
  { name: 'task', kind: 'str', doc: 'task (comm-pid)' },
  { name: 'op', kind: 'str', doc: 'operation kind (zaps)' },
  { name: 'op_id', kind: 'int', doc: 'operation id (zaps)' },
] as const;

export interface SpteChangesData {
  changes: FindingsTable;
  shadowPages: FindingsTable;
  byKind: Record<string, number>;
  shadowPageCounts: { created: number; zapped: number; zappedInUse: number; freedRoots: number };
  /** Eager huge-page splits (kvm_mmu_split_huge_page): done, failed (errno), smaller leaves inferred. */
  hugeSplits: { split: number; failed: number; childrenInferred: number };
}

export class SpteChangesHandler implements FactListener {
  private readonly changes = new FindingsTable('spte_changes', SPTE_CHANGE_COLUMNS);
  private readonly pages = new FindingsTable('shadow_pages', SHADOW_PAGE_COLUMNS);
  private readonly cc = columnIndex(SPTE_CHANGE_COLUMNS);
  private readonly pc = columnIndex(SHADOW_PAGE_COLUMNS);
  private readonly byKind = new Map<string, number>();
  private readonly counts = { created: 0, zapped: 0, zappedInUse: 0, freedRoots: 0 };
  private readonly splits = { split: 0, failed: 0, childrenInferred: 0 };

  onSpteChange(ch: SpteChange): void {
    this.byKind.set(ch.kind, (this.byKind.get(ch.kind) ?? 0) + 1);
    // installs are the trace's own set_spte / spte_changed rows, leaf zaps the `zaps` table's
    if (ch.kind === 'install' || ch.kind === 'zap') return;
    const t = this.changes;
    const c = this.cc;
    const r = t.add();
    t.num(c.line, r, ch.line);
    t.num(c.ts_ns, r, ch.ts);
    t.str(c.vm, r, ch.vm);
    t.num(c.as_id, r, ch.asId);
    t.num(c.gfn, r, ch.gfn);
    t.num(c.level, r, ch.level);
    t.num(c.sptep, r, ch.sptep >= 0 ? ch.sptep : null);
    t.str(c.kind, r, ch.kind);
    t.u64(c.old_spte, r, ch.oldHi, ch.oldLo);
    t.u64(c.new_spte, r, ch.newHi, ch.newLo);
    t.str(c.op, r, ch.op?.kind ?? null);
    t.num(c.op_id, r, ch.op?.id ?? null);
    t.str(c.evidence, r, ch.evidence);
  }

  private page(p: ShadowPageEvent, action: string): void {
    const t = this.pages;
    const c = this.pc;
    const r = t.add();
    t.num(c.line, r, p.line);
    t.num(c.ts_ns, r, p.ts);
    t.str(c.vm, r, p.vm);
    t.str(c.action, r, action);
    t.num(c.gen, r, p.gen);
    t.num(c.gfn, r, p.gfn);
    t.num(c.level, r, p.level);
    t.str(c.role, r, p.role);
    t.num(c.root_count, r, p.rootCount);
    t.str(c.task, r, taskLabel(p.task));
    t.str(c.op, r, p.op?.kind ?? null);
    t.num(c.op_id, r, p.op?.id ?? null);
  }

  onShadowPageCreated(p: ShadowPageEvent): void {
    this.counts.created++;
    this.page(p, 'created');
  }

  onShadowPageZapped(p: ShadowPageEvent): void {
    const action = p.invalidAlready ? 'freed-root' : p.rootCount > 0 ? 'zapped-in-use' : 'zapped';
    if (action === 'freed-root') this.counts.freedRoots++;
    else if (action === 'zapped-in-use') this.counts.zappedInUse++;
    else this.counts.zapped++;
    this.page(p, action);
  }

  onHugeSplit(s: HugeSplit): void {
    if (s.errno !== 0) this.splits.failed++;
    else this.splits.split++;
    this.splits.childrenInferred += s.children;
  }

  data(): SpteChangesData {
    return {
      changes: this.changes, shadowPages: this.pages,
      byKind: Object.fromEntries([...this.byKind].sort(([a], [b]) => (a < b ? -1 : 1))),
      shadowPageCounts: { ...this.counts }, hugeSplits: { ...this.splits },
    };
  }
}
