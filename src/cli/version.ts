import { readFileSync } from 'node:fs';

/** The package's version, from its package.json (two folders above dist/src/cli). */
export function version(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
