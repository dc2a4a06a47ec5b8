// Write-protect episodes: SPTEs an untraced write-protect made read-only (dirty logging,
// account_shadowed) and write faults then made writable again. The trace shows only the faults;
// the passes that write-protected (each one flush) are counted as few as the faults allow.
import type { FactListener, Marker, WriteProtect, WriteProtectCause, WriteProtectRestore } from '../model/facts.js';

export interface WriteProtectPhase {
  /** The trace marker the restores followed ('' before the first marker). */
  marker: string;
  /** Its line (0 before the first marker). */
  line: number;
  restored: number;
}

export interface WriteProtectsData {
  /** SPTEs restored by a write fault after an untraced write-protect (inferred protect, observed fault). */
  restored: number;
  /** SPTEs write-protected at a traced event (the event observed, which SPTEs it protected inferred). */
  protected: number;
  /**
   * Per cause: SPTEs protected at traced events, restores, and passes (ops that protected something;
   * for untraced causes the fewest that explain the restores).
   */
  byCause: Record<WriteProtectCause, WriteProtectCount>;
  /** Restores per trace phase (markers), for phases that had any. */
  byPhase: WriteProtectPhase[];
}

export interface WriteProtectCount {
  protected: number;
  restored: number;
  passes: number;
}

export class WriteProtectsHandler implements FactListener {
  private readonly byCause: WriteProtectsData['byCause'] = {
    'dirty-log': { protected: 0, restored: 0, passes: 0 },
    'shadowed-page-table': { protected: 0, restored: 0, passes: 0 },
    'sync-children': { protected: 0, restored: 0, passes: 0 },
  };
  private readonly passIds = new Set<number>();
  private phase: WriteProtectPhase = { marker: '', line: 0, restored: 0 };
  private readonly phases: WriteProtectPhase[] = [];
  private restored = 0;
  private protected = 0;

  onMarker(m: Marker): void {
    this.phase = { marker: m.text, line: m.line, restored: 0 };
  }

  onWriteProtect(w: WriteProtect): void {
    this.protected++;
    this.byCause[w.cause].protected++;
    this.countPass(w.cause, w.op.id);
  }

  onWriteProtectRestore(w: WriteProtectRestore): void {
    this.restored++;
    this.byCause[w.cause].restored++;
    this.countPass(w.cause, w.pass.id);
    if (this.phase.restored++ === 0) this.phases.push(this.phase);
  }

  private countPass(cause: WriteProtectCause, opId: number): void {
    if (this.passIds.has(opId)) return;
    this.passIds.add(opId);
    this.byCause[cause].passes++;
  }

  data(): WriteProtectsData {
    return { protected: this.protected, restored: this.restored, byCause: this.byCause, byPhase: this.phases };
  }
}
