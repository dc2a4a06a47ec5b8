-- events_by_task: who did the MMU work — per task, its KVM MMU events by kind.
-- Answers: which threads fault (vCPUs), which invalidate (notifier sources such as khugepaged,
-- ksmd, kswapd or the VMM itself), which zap, and which age.
-- Columns:
--   pid, tgid, comm   the task (tgid is null when the trace has no TGID column)
--   events            all its events
--   faults            kvm_mmu_spte_requested (shadow/TDP faults that installed a leaf)
--   set_sptes         kvm_mmu_set_spte
--   zaps              kvm_mmu_prepare_zap_page
--   invalidations     kvm_unmap_hva_range (mmu-notifier invalidate_range_start)
--   aging             kvm_age_hva + kvm_test_age_hva
--   zap_all_fast      kvm_mmu_zap_all_fast
SELECT
  pid,
  tgid,
  comm,
  count(*)                                                        AS events,
  count(*) FILTER (WHERE event = 'kvm_mmu_spte_requested')        AS faults,
  count(*) FILTER (WHERE event = 'kvm_mmu_set_spte')              AS set_sptes,
  count(*) FILTER (WHERE event = 'kvm_mmu_prepare_zap_page')      AS zaps,
  count(*) FILTER (WHERE event = 'kvm_unmap_hva_range')           AS invalidations,
  count(*) FILTER (WHERE event IN ('kvm_age_hva', 'kvm_test_age_hva')) AS aging,
  count(*) FILTER (WHERE event = 'kvm_mmu_zap_all_fast')          AS zap_all_fast
FROM events
WHERE grp IN ('kvmmmu', 'kvm')
GROUP BY pid, tgid, comm
ORDER BY events DESC, pid;
