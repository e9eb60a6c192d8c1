// Running `linedrop check` against the lab servers of test/check/servers/tcp.py, written as
// students write them: one connection then exit, recv(1), listen(1), no SO_REUSEADDR, the menu
// answer on standard input, files in its working folder. Used by test/check/lab-servers.test.ts
// and test/system/check-lab-servers.test.ts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkServer, SERVER_CHECKS, type CheckReport, type CheckServerOptions } from '../../src/check/index.js';
import { freePort, HOST, removeDir, ROOT, tempDir } from '../support.js';

export const SERVER = join(ROOT, 'test/check/servers/tcp.py');
export const ALL = SERVER_CHECKS.map((c) => c.name);

/** The command a student would give: the menu answer piped in, the server started in its folder. */
export function restartCmd(dir: string, port: number, flaw = '', wrap = ''): string {
  return `cd '${dir}' && printf '2\\n' | ${wrap} python3 '${SERVER}' ${port} ${flaw}`;
}

/** Processes descended from this test process (zombies count as gone). */
export function descendants(): string[] {
  const procs: { pid: number; ppid: number; state: string; cmd: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'latin1').replaceAll('\0', ' ').trim();
      procs.push({ pid: Number(name), ppid: Number(fields[1]), state: fields[0]!, cmd });
    } catch {
      // Gone meanwhile.
    }
  }
  const mine = new Set([process.pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) {
      if (!mine.has(p.pid) && mine.has(p.ppid)) {
        mine.add(p.pid);
        grew = true;
      }
    }
  }
  return procs
    .filter((p) => p.pid !== process.pid && mine.has(p.pid) && p.state !== 'Z')
    .map((p) => `${p.pid} ${p.cmd}`);
}

/** Every lab-server python process still running (a survivor may have been re-parented away from us). */
export function labServersRunning(port: number): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0');
      if (cmd.some((a) => a.endsWith('servers/tcp.py')) && cmd.includes(String(port)))
        out.push(`${name} ${cmd.join(' ')}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** Sockets whose local port is `port` in TIME_WAIT (what keeps a server without SO_REUSEADDR from listening). */
export function timeWaitOn(port: number): number {
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4) continue;
      const local = Number.parseInt(f[1]!.split(':')[1]!, 16);
      if (local === port && f[3] === '06') n++;
    }
  }
  return n;
}

export interface Lab {
  report: CheckReport;
  dir: string;
  port: number;
}

export async function checkLab(flaw: string, options: Partial<CheckServerOptions> = {}, wrap = ''): Promise<Lab> {
  const dir = await tempDir();
  const port = options.port ?? (await freePort());
  try {
    const report = await checkServer({
      host: HOST,
      port,
      dir,
      restartCmd: restartCmd(dir, port, flaw, wrap),
      timeoutMs: 1500,
      pauseMs: 150,
      ...options,
    });
    return { report, dir, port };
  } finally {
    await removeDir(dir);
  }
}

/** Asserts every check's status (all `pass` but those named) and `causedBy` for the named ones. */
export function expectVerdicts(lab: Lab, want: Record<string, string>, causes: Record<string, string> = {}): void {
  const { report } = lab;
  const seen = Object.fromEntries(report.checks.map((c) => [c.name, c.status]));
  const expected = Object.fromEntries(
    ALL.map((n) => [n, want[n] ?? (n === 'concurrent-clients' ? 'not-applicable' : 'pass')]),
  );
  const details = report.checks
    .filter((c) => c.status !== expected[c.name])
    .map((c) => `${c.name}: ${c.status}: ${c.seen} ${c.notes.join(' / ')}`)
    .join('\n');
  assert.deepEqual(seen, expected, `${details}\n${report.error ?? ''}`);
  const seenCauses = Object.fromEntries(
    report.checks.filter((c) => c.causedBy !== undefined).map((c) => [c.name, c.causedBy]),
  );
  assert.deepEqual(seenCauses, causes, 'the failures that follow from another');
  assert.equal(report.checks.filter((c) => c.status === 'skip').length, 0, 'no check skipped');
  assert.deepEqual(report.summary.needRestart, []);
  assert.deepEqual(labServersRunning(lab.port), [], 'no lab server left running');
  assert.deepEqual(descendants(), [], 'no process the checker started is left running');
}
