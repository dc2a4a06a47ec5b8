// What a binary trace reader hands the ingest, in time order: tracepoint records and lost-event marks.

export type BinaryItem =
  | {
    kind: 'event';
    /** Nanoseconds (or the raw counter of a counter clock). */
    ts: bigint;
    cpu: number;
    /** The tracepoint record, starting with its common fields. */
    data: Buffer;
    /** Task and thread group where the file says them outside the record (perf's sample pid/tid), else null. */
    pid: number | null;
    tgid: number | null;
    comm: string | null;
  }
  /** Events the tracer lost at this point: `count` null when the file does not say how many. */
  | { kind: 'lost'; cpu: number; count: number | null };
