// linedrop's benchmark: `npm run bench` (full sizes), `npm run bench -- --quick` (under a minute),
// `npm run bench -- rsync startup` (only those sections). Everything runs on 127.0.0.1 and in a
// temporary folder; every receiving server runs in a child process (bench/server-child.ts), so
// sender and receiver never share an event loop and the server's RSS is its own. See `--help` for
// the flags and README.md ("Performance") for results.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { sectionClient } from './client.js';
import { sectionDecoder } from './decoder.js';
import { sectionFiles } from './files.js';
import { sectionIngest } from './ingest.js';
import { sectionMemory } from './memory.js';
import { parseOptions, type Options } from './options.js';
import { printTable, rows } from './report.js';
import { sectionRsync } from './rsync.js';
import { sectionStartup } from './startup.js';
import { log } from './support.js';

async function main(): Promise<void> {
  let o: Options;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    process.exit(2);
  }
  await mkdir(o.tmp, { recursive: true });
  const tmp = await mkdtemp(join(o.tmp, 'linedrop-bench-'));
  const cpu = cpus();
  const info: Record<string, string> = {
    cpus: `${cpu.length} × ${cpu[0]?.model ?? '?'}`,
    node: process.version,
    folder: tmp,
  };
  log(`linedrop benchmark, ${o.quick ? 'quick' : 'full'} run, in ${tmp}`);
  const started = performance.now();
  try {
    if (o.only.has('ingest')) await sectionIngest(o, tmp);
    if (o.only.has('decoder')) sectionDecoder(o);
    if (o.only.has('files')) await sectionFiles(o, tmp);
    if (o.only.has('memory')) await sectionMemory(o, tmp);
    if (o.only.has('client')) await sectionClient(o, tmp);
    if (o.only.has('rsync')) await sectionRsync(o, tmp);
    if (o.only.has('startup')) await sectionStartup(o, tmp);
  } finally {
    if (!o.keep) await rm(tmp, { recursive: true, force: true });
  }
  info.took = `${((performance.now() - started) / 1000).toFixed(0)} s`;
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ info, options: { ...o, only: [...o.only] }, rows }, null, 2)}\n`);
  } else {
    printTable(o, info);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
