// 6. `linedrop send` -> `linedrop receive` next to `rsync --fsync` -> an rsync daemon: the same
// files, the same disk, over 127.0.0.1, each run a whole command timed from spawn to exit.
//
// rsync's daemon with --fsync flushes each file before it renames it into place; it does not
// flush the folder. linedrop answers A only after the file's data, its rename and the folder are
// flushed, and `linedrop send` exits only after the last A: the stronger promise is the one timed.
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { LINEDROP, ROOT, startDaemon, startLinedropReceive, syncAll, timeCommand, type Daemon } from './commands.js';
import type { Options } from './options.js';
import { fmtBytes, fmtInt, fmtMB, rows } from './report.js';
import { bestOf, freePort, HOST, log, makeLines, which, writeFileOfLines, type Timed } from './support.js';

const INSTALL = join(ROOT, 'scripts', 'install-system-tools.sh');

/** rsync's path, installed from Debian's packages when missing; or why there is none. */
function findRsync(): { rsync?: string; why?: string } {
  const found = which('rsync');
  if (found) return { rsync: found };
  log(`6. rsync is not installed: bash ${INSTALL} rsync`);
  const r = spawnSync('bash', [INSTALL, 'rsync'], { stdio: ['ignore', 2, 2] });
  const after = which('rsync');
  if (after) return { rsync: after };
  return {
    why:
      `rsync is not installed and scripts/install-system-tools.sh rsync failed (exit ` +
      `${r.status ?? r.signal}; it needs root or sudo and apt-get)`,
  };
}

/** An rsync daemon on 127.0.0.1 with one writable module, `drop`, at `<dir>/drop`. */
async function startRsyncDaemon(rsync: string, dir: string): Promise<Daemon & { dest: string }> {
  const dest = join(dir, 'drop');
  await mkdir(dest, { recursive: true });
  const config = join(dir, 'rsyncd.conf');
  await writeFile(
    config,
    [
      `pid file = ${join(dir, 'rsyncd.pid')}`,
      `log file = ${join(dir, 'rsyncd.log')}`,
      'use chroot = no',
      // As root the daemon would otherwise write as nobody.
      `uid = ${process.getuid?.() ?? 0}`,
      `gid = ${process.getgid?.() ?? 0}`,
      '[drop]',
      `  path = ${dest}`,
      '  read only = no',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const daemon = await startDaemon(
    rsync,
    ['--daemon', '--no-detach', `--config=${config}`, `--address=${HOST}`, `--port=${port}`],
    port,
    'rsync --daemon',
  );
  return { ...daemon, dest };
}

/** The names and total size of the regular files in `dir`. */
async function listing(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    files++;
    bytes += (await stat(join(dir, entry.name))).size;
  }
  return { files, bytes };
}

/** Checks that `dir` holds what was sent. */
async function check(dir: string, expect: { files: number; bytes: number }, name: string): Promise<void> {
  const got = await listing(dir);
  if (got.files !== expect.files || got.bytes !== expect.bytes) {
    throw new Error(
      `${name}: ${got.files} files of ${got.bytes} bytes arrived in ${dir}, expected ` +
        `${expect.files} of ${expect.bytes}`,
    );
  }
}

/**
 * Every timed run writes into a new, empty folder, and no folder is emptied between runs: after
 * thousands of files are deleted, ext4 walks the recently freed inodes on each create (about 1 ms
 * a create here, against tens of microseconds otherwise), and both tools would be timing that.
 */
let rounds = 0;
async function freshFolder(parent: string): Promise<string> {
  const dir = join(parent, `round-${String(++rounds).padStart(2, '0')}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** `linedrop send FILES` to a `linedrop receive` started (untimed) on a fresh folder under `base`. */
async function linedropRound(base: string, expect: { files: number; bytes: number }, files: string[]): Promise<Timed> {
  const dir = await freshFolder(base);
  const receive = await startLinedropReceive(dir);
  try {
    syncAll();
    const send = [
      LINEDROP,
      'send',
      '--host',
      HOST,
      '--port',
      String(receive.port),
      '--quiet',
      '--no-progress',
      ...files,
    ];
    const run = await timeCommand(process.execPath, send, 'linedrop send');
    await check(dir, expect, 'linedrop send');
    return run;
  } finally {
    await receive.stop();
  }
}

/** `rsync --fsync ARGS rsync://.../drop/<fresh folder>/`. */
async function rsyncRound(
  rsync: string,
  daemon: Daemon & { dest: string },
  expect: { files: number; bytes: number },
  args: string[],
): Promise<Timed> {
  const dir = await freshFolder(daemon.dest);
  syncAll();
  const run = await timeCommand(rsync, [...args, `rsync://${HOST}:${daemon.port}/drop/${basename(dir)}/`], 'rsync');
  await check(dir, expect, 'rsync');
  return run;
}

export async function sectionRsync(o: Options, tmp: string): Promise<void> {
  const smallWhat = `${fmtInt(o.rsyncFiles)} files of ${fmtBytes(o.rsyncFileSize)}, one connection, whole command`;
  const bigWhat = `one ${fmtBytes(o.rsyncSize)} file of 100-byte lines, whole command`;
  log(`6. linedrop send → linedrop receive vs rsync --fsync → rsync daemon: ${smallWhat}; ${bigWhat}`);
  const { rsync, why } = findRsync();
  if (!rsync) {
    for (const measure of [smallWhat, bigWhat]) {
      rows.push({ section: 6, measure, reference: `rsync --fsync: not measured (${why})`, note: why });
    }
    return;
  }

  // The files: small ones of 64-byte lines, each its own text; one large file of 100-byte lines.
  const smallDir = join(tmp, 'rsync-small');
  await mkdir(smallDir, { recursive: true });
  const names: string[] = [];
  for (let i = 0; i < o.rsyncFiles; i++) {
    const name = join(smallDir, `f${String(i + 1).padStart(6, '0')}.txt`);
    await writeFile(name, makeLines(64, o.rsyncFileSize, i + 1));
    names.push(name);
  }
  const small = await listing(smallDir);
  const bigFile = join(tmp, 'rsync-big.txt');
  const bigBytes = await writeFileOfLines(bigFile, o.rsyncSize, 100);
  syncAll();

  const ldDir = join(tmp, 'rsync-linedrop');
  await mkdir(ldDir, { recursive: true });
  const daemon = await startRsyncDaemon(rsync, join(tmp, 'rsyncd'));
  try {
    log(`   ${smallWhat}`);
    const [ldSmall, rsSmall] = await bestOf(
      o.repeat,
      [
        () => linedropRound(ldDir, small, names),
        () => rsyncRound(rsync, daemon, small, ['-r', '--fsync', `${smallDir}/`]),
      ],
      ['linedrop send', 'rsync -r --fsync'],
    );
    const ldRate = o.rsyncFiles / ldSmall!.seconds;
    const rsRate = o.rsyncFiles / rsSmall!.seconds;
    rows.push({
      section: 6,
      measure: smallWhat,
      value: Math.round(ldRate),
      unit: 'files/s',
      shown: `${fmtInt(ldRate)} files/s`,
      reference: `rsync -r --fsync → daemon: ${fmtInt(rsRate)} files/s`,
      referenceValue: Math.round(rsRate),
      ratio: ldRate / rsRate,
      target: '>= 1.0x rsync --fsync',
      met: ldRate >= rsRate,
      extra: { seconds: ldSmall!.seconds, rsyncSeconds: rsSmall!.seconds },
    });

    log(`   ${bigWhat}`);
    const big = { files: 1, bytes: bigBytes };
    const [ldBig, rsBig] = await bestOf(
      o.repeat,
      [() => linedropRound(ldDir, big, [bigFile]), () => rsyncRound(rsync, daemon, big, ['--fsync', bigFile])],
      ['linedrop send', 'rsync --fsync'],
    );
    const ldMB = bigBytes / ldBig!.seconds;
    const rsMB = bigBytes / rsBig!.seconds;
    rows.push({
      section: 6,
      measure: bigWhat,
      value: Math.round(ldMB / 1e6),
      unit: 'MB/s',
      reference: `rsync --fsync → daemon: ${fmtMB(rsMB)}`,
      referenceValue: Math.round(rsMB / 1e6),
      ratio: ldMB / rsMB,
      target: '>= 1.0x rsync --fsync',
      met: ldMB >= rsMB,
      extra: { seconds: ldBig!.seconds, rsyncSeconds: rsBig!.seconds },
    });
  } finally {
    await daemon.stop();
  }
}
