// Name and version of the tool, read once from package.json (the compiled file is dist/src/version.js).
import { readFileSync } from 'node:fs';

export const TOOL_NAME = 'mmu-trace';
export const TOOL_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
