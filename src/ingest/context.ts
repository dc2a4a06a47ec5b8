// What decoders learn about the kernel that printed the trace, and what they need to know to
// decode version-dependent encodings (the role word).
import { ROLE_LAYOUTS, type RoleLayout, type RoleLayoutName } from './role.js';

export interface KernelHint {
  /** What was seen, e.g. "sp text: 'sp gen %u gfn %llx l%u %u-byte ...' (v5.4+)". */
  readonly value: string;
  /** First line where it was seen. */
  readonly line: number;
}

export class DecodeContext {
  /** Current source line (for hints). */
  line = 0;
  readonly hints = new Map<string, KernelHint>();

  constructor(
    public layout: RoleLayout = ROLE_LAYOUTS['v5.17'],
    /** Where the layout came from: the --kernel option, the trace text, or the default. */
    public layoutSource: 'option' | 'text' | 'default' = 'default',
  ) {}

  /** Records a kernel-format fact once (first occurrence wins). */
  hint(key: string, value: string): void {
    if (!this.hints.has(key)) this.hints.set(key, { value, line: this.line });
  }

  /** The trace text itself showed which role layout the kernel uses. */
  layoutSeen(name: RoleLayoutName): void {
    if (this.layoutSource === 'option') return;
    this.layout = ROLE_LAYOUTS[name];
    this.layoutSource = 'text';
  }
}
