// The package's version, for `--version`: written into the bundle, or read from package.json.
import { readFileSync } from 'node:fs';

/** package.json's version, written in by the bundler (scripts/bundle.mjs); undefined in tsc's output. */
declare const LINEDROP_VERSION: string | undefined;

/** The package's version: the bundle's own, or read from package.json (two folders above dist/src/cli). */
export function version(): string {
  if (typeof LINEDROP_VERSION === 'string') return LINEDROP_VERSION;
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string })
    .version;
}
