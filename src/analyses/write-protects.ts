// Write-protect episodes: SPTEs an untraced write-protect made read-only (dirty logging,
// account_shadowed) and write faults then made writable again. The trace shows only the faults;
// the passes that write-protected (each one flush) are counted as few as the faults allow.
import type { FactListener, Marker, WriteProtectCause, WriteProtectRestore } from '../model/facts.js';

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
  /** Per cause: restores, and the fewest write-protect passes that explain them. */
  byCause: Record<WriteProtectCause, { restored: number; passes: number }>;
  /** Restores per trace phase (markers), for phases that had any. */
  byPhase: WriteProtectPhase[];
}

export class WriteProtectsHandler implements FactListener {
  private readonly byCause: WriteProtectsData['byCause'] = {
    'dirty-log': { restored: 0, passes: 0 },
    'shadowed-page-table': { restored: 0, passes: 0 },
  };
  private readonly passIds = new Set<number>();
  private phase: WriteProtectPhase = { marker: '', line: 0, restored: 0 };
  private readonly phases: WriteProtectPhase[] = [];
  private restored = 0;

  onMarker(m: Marker): void {
    this.phase = { marker: m.text, line: m.line, restored: 0 };
  }

  onWriteProtectRestore(w: WriteProtectRestore): void {
    this.restored++;
    const c = this.byCause[w.cause];
    c.restored++;
    if (!this.passIds.has(w.pass.id)) {
      this.passIds.add(w.pass.id);
      c.passes++;
    }
    if (this.phase.restored++ === 0) this.phases.push(this.phase);
  }

  data(): WriteProtectsData {
    return { restored: this.restored, byCause: this.byCause, byPhase: this.phases };
  }
}
