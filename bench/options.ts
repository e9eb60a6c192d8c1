// The benchmark's flags: `npm run bench -- --help`.
import { tmpdir } from 'node:os';
import { GiB, KiB, MiB } from './support.js';

export const SECTIONS = ['ingest', 'decoder', 'files', 'memory', 'client', 'rsync', 'startup'] as const;
export type Section = (typeof SECTIONS)[number];

export interface Options {
  quick: boolean;
  json: boolean;
  /** Section 1: bytes of the large upload. */
  size: number;
  /** Section 2: bytes decoded per case. */
  decoderSize: number;
  /** Section 3: files per case, their size, the concurrent connections, messages in flight per connection. */
  files: number;
  fileSize: number;
  connections: number;
  window: number;
  layout: 'flat' | 'session';
  /** Section 4: idle connections, and the size of the upload whose RSS is sampled. */
  idle: number;
  upload: number;
  /** Section 5: size of the file the client sends. */
  clientSize: number;
  /** Section 6: the small files sent with `linedrop send` and with rsync, their size; the large file's size. */
  rsyncFiles: number;
  rsyncFileSize: number;
  rsyncSize: number;
  /** Section 7: best of this many starts of each command. */
  starts: number;
  /** Sections 1, 5 and 6: best of this many runs of each row. */
  repeat: number;
  only: Set<Section>;
  tmp: string;
  keep: boolean;
}

export const HELP = `usage: npm run bench -- [flags] [section...]

  section               run only these (also --only a,b): ${SECTIONS.join(' ')}
                        (default: all of them)

  --quick               small sizes: finishes in under a minute
  --json                print the results as JSON instead of a table
  --size SIZE           1: large upload ingested by the server (default 1GiB; quick 64MiB)
  --decoder-size SIZE   2: bytes decoded per case (default 1GiB; quick 64MiB)
  --files N             3: files per case (default 20000; quick 1000)
  --file-size SIZE      3: size of each file (default 1KiB)
  --connections N       3: concurrent connections of the many-clients case (default 64)
  --window N            3: messages in flight per connection (default 8)
  --layout flat|session 3: the server's layout (default flat, the lab's: one folder, k.txt
                        per connection, so connections overwrite each other's files;
                        session: a folder per connection, which no other connection
                        shares, so there is no folder flush to share either)
  --idle N              4: idle connections (default 10000; quick 1000)
  --upload SIZE         4: upload whose server RSS is sampled (default 4GiB; quick 256MiB)
  --client-size SIZE    5: file sent by the client (default 1GiB; quick 64MiB)
  --rsync-files N       6: small files sent over one connection (default 1000)
  --rsync-file-size SIZE 6: size of each of them (default 1KiB)
  --rsync-size SIZE     6: the large file (default 256MiB; quick 64MiB)
  --starts N            7: best of N starts of each command (default 10; quick 5)
  --repeat N            1, 5 and 6: best of N runs per row, taken in turns (default 3; quick 1)
  --only LIST           run only these sections: ${SECTIONS.join(',')}
  --tmp DIR             where the temporary folder goes (default the system's)
  --keep                keep the temporary folder

SIZE: a number of bytes with an optional KiB/MiB/GiB (or K/M/G) suffix.`;

export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(i?b)?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  const unit = { '': 1, k: KiB, m: MiB, g: GiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * unit);
}

export function parseOptions(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const o: Options = {
    quick,
    json: false,
    size: quick ? 64 * MiB : GiB,
    decoderSize: quick ? 64 * MiB : GiB,
    files: quick ? 1000 : 20_000,
    fileSize: KiB,
    connections: 64,
    window: 8,
    layout: 'flat',
    idle: quick ? 1000 : 10_000,
    upload: quick ? 256 * MiB : 4 * GiB,
    clientSize: quick ? 64 * MiB : GiB,
    rsyncFiles: 1000,
    rsyncFileSize: KiB,
    rsyncSize: quick ? 64 * MiB : 256 * MiB,
    starts: quick ? 5 : 10,
    repeat: quick ? 1 : 3,
    only: new Set(SECTIONS),
    tmp: tmpdir(),
    keep: false,
  };
  const named: Section[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    const int = (): number => {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 1) throw new Error(`${arg} needs a whole number >= 1`);
      return v;
    };
    switch (arg) {
      case '--quick':
        break;
      case '--json':
        o.json = true;
        break;
      case '--size':
        o.size = parseSize(value());
        break;
      case '--decoder-size':
        o.decoderSize = parseSize(value());
        break;
      case '--files':
        o.files = int();
        break;
      case '--file-size':
        o.fileSize = parseSize(value());
        break;
      case '--connections':
        o.connections = int();
        break;
      case '--window':
        o.window = int();
        break;
      case '--layout': {
        const v = value();
        if (v !== 'flat' && v !== 'session') throw new Error('--layout is flat or session');
        o.layout = v;
        break;
      }
      case '--idle':
        o.idle = int();
        break;
      case '--upload':
        o.upload = parseSize(value());
        break;
      case '--client-size':
        o.clientSize = parseSize(value());
        break;
      case '--rsync-files':
        o.rsyncFiles = int();
        break;
      case '--rsync-file-size':
        o.rsyncFileSize = parseSize(value());
        break;
      case '--rsync-size':
        o.rsyncSize = parseSize(value());
        break;
      case '--starts':
        o.starts = int();
        break;
      case '--repeat':
        o.repeat = int();
        break;
      case '--only': {
        const list = value().split(',');
        for (const s of list) if (!SECTIONS.includes(s as Section)) throw new Error(`--only: unknown section ${s}`);
        o.only = new Set(list as Section[]);
        break;
      }
      case '--tmp':
        o.tmp = value();
        break;
      case '--keep':
        o.keep = true;
        break;
      case '-h':
      case '--help':
        process.stdout.write(`${HELP}\n`);
        process.exit(0);
        break;
      default:
        if (arg.startsWith('-')) throw new Error(`unknown flag ${arg} (see --help)`);
        if (!SECTIONS.includes(arg as Section))
          throw new Error(`unknown section ${arg} (sections: ${SECTIONS.join(' ')})`);
        named.push(arg as Section);
    }
  }
  if (named.length > 0) o.only = new Set(named);
  return o;
}
