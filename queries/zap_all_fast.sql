-- zap_all_fast: every kvm_mmu_zap_all_fast and the obsolete shadow pages its task zapped after it.
-- Answers: how many pages did each fast zap free, how long did the zapping take, and does it match
-- used_pages (kvm->arch.n_used_mmu_pages at the time)? Zaps are attributed to the episode of the same
-- task until that task's next zap_all_fast; lock breaks are the model's job (mmu-trace analyze).
-- Columns:
--   line          source line of the kvm_mmu_zap_all_fast event
--   ts_s          its timestamp, seconds
--   pid, comm     the task that called it (memslot ioctl, usually the VMM)
--   valid_gen     the generation it made obsolete
--   used_pages    shadow pages in use when it was called
--   zapped        kvm_mmu_prepare_zap_page events of that task in the episode whose sp_gen = valid_gen
--   span_ms       time from the zap_all_fast to the last of those zaps
WITH fast AS (
  SELECT line, ts_ns, pid, comm, valid_gen, used_pages,
         lead(ts_ns) OVER (PARTITION BY pid ORDER BY ts_ns, line) AS next_ts
  FROM events
  WHERE event = 'kvm_mmu_zap_all_fast'
)
SELECT
  f.line,
  round(f.ts_ns / 1e9, 6)                               AS ts_s,
  f.pid,
  f.comm,
  f.valid_gen,
  f.used_pages,
  count(z.line)                                         AS zapped,
  round((max(z.ts_ns) - f.ts_ns) / 1e6, 3)              AS span_ms
FROM fast f
LEFT JOIN events z
  ON z.event = 'kvm_mmu_prepare_zap_page'
 AND z.pid = f.pid
 AND z.sp_gen = f.valid_gen
 AND z.ts_ns >= f.ts_ns
 AND (f.next_ts IS NULL OR z.ts_ns < f.next_ts)
GROUP BY f.line, f.ts_ns, f.pid, f.comm, f.valid_gen, f.used_pages
ORDER BY f.ts_ns, f.line;
