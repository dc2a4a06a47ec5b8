-- summary: events per group and name, with the time span each covers.
-- Answers: what is in this trace, and when did each kind of event happen?
-- Columns:
--   grp        event group (kvmmmu, kvm, sched, tlb, ftrace)
--   event      event name
--   events     number of events
--   tasks      distinct task ids that emitted it
--   first_s    timestamp of the first one, seconds
--   last_s     timestamp of the last one, seconds
SELECT
  grp,
  event,
  count(*)                          AS events,
  count(DISTINCT pid)               AS tasks,
  round(min(ts_ns) / 1e9, 6)        AS first_s,
  round(max(ts_ns) / 1e9, 6)        AS last_s
FROM events
WHERE event <> 'lost_events'
GROUP BY grp, event
ORDER BY grp, events DESC, event;
