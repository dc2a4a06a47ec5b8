// The input error every command reports the same way (exit code 3): its own module, so the CLI
// can name it without loading the ingest (`--help` stays fast).

/** Thrown for input that cannot be read as a trace at all (exit code 3). */
export class InputError extends Error {
  constructor(readonly path: string, readonly detail: string, readonly line?: number, readonly column?: number) {
    super(`${path}${line !== undefined ? `:${line}${column !== undefined ? `:${column}` : ''}` : ''}: ${detail}`);
  }
}
