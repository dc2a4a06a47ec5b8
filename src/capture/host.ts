// What the recording host says about its KVM: kernel release and the KVM modules' parameters
// (tdp_mmu, eager_page_split, nx_huge_pages, ept/npt, ...), for the recording's header.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';

const KVM_MODULES = ['kvm', 'kvm_intel', 'kvm_amd', 'kvm_pvm'];

export interface HostInfo {
  kernel: string;
  /** module → parameter → value, for the KVM modules that are loaded. */
  modules: Record<string, Record<string, string>>;
}

export function hostInfo(sysModule = '/sys/module'): HostInfo {
  const modules: Record<string, Record<string, string>> = {};
  for (const m of KVM_MODULES) {
    const dir = join(sysModule, m, 'parameters');
    if (!existsSync(dir)) continue;
    const params: Record<string, string> = {};
    for (const p of readdirSync(dir).sort()) {
      try {
        params[p] = readFileSync(join(dir, p), 'utf8').trim();
      } catch {
        // write-only or unreadable parameter: not part of the record
      }
    }
    modules[m] = params;
  }
  return { kernel: release(), modules };
}
