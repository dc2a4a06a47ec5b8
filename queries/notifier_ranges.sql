-- notifier_ranges: mmu-notifier invalidations and aging calls, grouped by source task and size.
-- Answers: who sends KVM notifications, how large are the ranges, how many pages do they cover?
-- (Whether a range overlaps a memslot needs the memslot layout: see `mmu-trace analyze`.)
-- Columns:
--   event        kvm_unmap_hva_range, kvm_age_hva, kvm_test_age_hva or kvm_set_spte_hva
--   comm         source task name
--   range_pages  range size in 4 KiB pages (1 for single-hva events)
--   calls        number of notifications
--   total_pages  pages covered by all of them
--   first_hva    lowest range start, hex
--   last_hva     highest range end, hex
SELECT
  event,
  comm,
  coalesce((hva_end - hva_start) // 4096, 1)                     AS range_pages,
  count(*)                                                       AS calls,
  sum(coalesce((hva_end - hva_start) // 4096, 1))                AS total_pages,
  printf('%#x', min(hva_start))                                  AS first_hva,
  printf('%#x', max(coalesce(hva_end, hva_start + 4096)))        AS last_hva
FROM events
WHERE event IN ('kvm_unmap_hva_range', 'kvm_age_hva', 'kvm_test_age_hva', 'kvm_set_spte_hva')
GROUP BY event, comm, range_pages
ORDER BY event, calls DESC, range_pages;
