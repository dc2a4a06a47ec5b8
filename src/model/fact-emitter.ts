// The per-SPTE facts (leaf zap, leaf install, SPTE change) told to the analyses. One fact object
// per kind is refilled for every fact (facts.ts: valid only during the call): these run millions
// of times per trace.
import type { EventView } from './event-view.js';
import type { ListenerHooks, TaskState } from './context.js';
import type { Evidence, LeafInstall, LeafZap, Op, SpteChange, Task } from './facts.js';
import { blankOp } from './operations.js';
import type { ChangeKind } from './spte.js';
import type { Leaf, VmState } from './vm-state.js';

export class FactEmitter {
  private readonly zapFact: LeafZap;
  private readonly installFact: LeafInstall;
  private readonly changeFact: SpteChange;

  constructor(private readonly view: EventView, private readonly on: ListenerHooks) {
    const task: Task = { pid: -1, comm: '' };
    const op = blankOp(0, 'sync', '', task, 0, 0);
    this.zapFact = { vm: '', asId: 0, gfn: 0, level: 0, sptep: -1, oldHi: 0, oldLo: 0, line: 0, ts: 0, op, evidence: 'observed' };
    this.installFact = { vm: '', asId: 0, gfn: 0, level: 0, sptep: -1, hi: 0, lo: 0, line: 0, ts: 0, task, prefetch: false };
    this.changeFact = {
      vm: '', asId: 0, gfn: 0, level: 0, sptep: -1, kind: 'install', oldHi: 0, oldLo: 0, newHi: 0, newLo: 0, line: 0, ts: 0, op: null, evidence: 'observed',
    };
  }

  /** A present leaf dropped by `op`: removed from the VM's state, told as a zap and as a change. */
  zapLeaf(vm: VmState, leaf: Leaf, op: Op, evidence: Evidence, line: number, ts: number): void {
    vm.removeLeaf(leaf);
    op.leafZaps++;
    if (evidence !== 'observed') op.zapEvidence = evidence;
    const z = this.zapFact;
    z.vm = vm.id;
    z.asId = leaf.asId;
    z.gfn = leaf.gfn;
    z.level = leaf.level;
    z.sptep = leaf.sptep;
    z.oldHi = leaf.hi;
    z.oldLo = leaf.lo;
    z.line = line;
    z.ts = ts;
    z.op = op;
    z.evidence = evidence;
    for (const l of this.on.leafZap) l.onLeafZap!(z);
    this.emitChange(vm, op, leaf.asId, leaf.gfn, leaf.level, leaf.sptep, 'zap', leaf.hi, leaf.lo, 0, 0, line, ts, evidence);
  }

  /** A leaf that maps its frame afresh (event `i`): it resolves pending zaps of the frame. */
  install(vm: VmState, t: TaskState, asId: number, gfn: number, level: number, sptep: number, hi: number, lo: number, i: number): void {
    const s = this.installFact;
    s.vm = vm.id;
    s.asId = asId;
    s.gfn = gfn;
    s.level = level;
    s.sptep = sptep;
    s.hi = hi;
    s.lo = lo;
    s.line = this.view.lineNo(i);
    s.ts = this.view.tsNs(i);
    s.task = t.task;
    s.prefetch = t.faultGfn !== gfn;
    for (const l of this.on.leafInstall) l.onLeafInstall!(s);
  }

  /** An SPTE change at event `i`. */
  change(vm: VmState, op: Op | null, asId: number, gfn: number, level: number, sptep: number, kind: ChangeKind,
    oHi: number, oLo: number, nHi: number, nLo: number, i: number, evidence: Evidence): void {
    this.emitChange(vm, op, asId, gfn, level, sptep, kind, oHi, oLo, nHi, nLo, this.view.lineNo(i), this.view.tsNs(i), evidence);
  }

  private emitChange(vm: VmState, op: Op | null, asId: number, gfn: number, level: number, sptep: number, kind: ChangeKind,
    oHi: number, oLo: number, nHi: number, nLo: number, line: number, ts: number, evidence: Evidence): void {
    const c = this.changeFact;
    c.vm = vm.id;
    c.asId = asId;
    c.gfn = gfn;
    c.level = level;
    c.sptep = sptep;
    c.kind = kind;
    c.oldHi = oHi;
    c.oldLo = oLo;
    c.newHi = nHi;
    c.newLo = nLo;
    c.line = line;
    c.ts = ts;
    c.op = op;
    c.evidence = evidence;
    for (const l of this.on.spteChange) l.onSpteChange!(c);
  }
}
