// Several linedrop servers behind HAProxy, as docs/deploy.md sets them up: HAProxy in TCP mode
// with send-proxy-v2 in front of three `receive --proxy-protocol --layout session` instances that
// share one folder, health-checked on their --metrics /healthz. 300 client sessions of 5 files go
// through it (`send --retry 5 --json`, 30 at a time); one instance is killed with SIGKILL part-way.
// Then: every file is on disk byte for byte, once (a second copy only where the killed server
// stored a file whose A never reached its client), every file answered A exactly once, the
// servers' logs name each client's own port (so the PROXY header was used), HAProxy marked the
// killed server down, and the survivors' metrics agree with their logs and with the disk.
//
// haproxy (Debian: haproxy) must be on PATH; scripts/install-system-tools.sh haproxy installs it. Without it
// the test fails, unless LINEDROP_SKIP_HAPROXY=1 is set, which turns that failure into a skip.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { isTempName } from '../../src/storage/file-sink.js';
import { sessionInstance } from '../../src/storage/directory.js';
import { HOST, ROOT, freePort, removeDir, sleep, tempDir, until } from '../support.js';

const BIN = join(ROOT, 'bin/linedrop.js');
const SESSIONS = 300;
const FILES_PER_SESSION = 5;
const CONCURRENCY = 30;
/** The instance killed, and after how many finished sessions. */
const VICTIM = 'b';
const KILL_AFTER = 100;

const found = spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).error === undefined;
const skip =
  !found && process.env['LINEDROP_SKIP_HAPROXY'] === '1' ? 'haproxy not installed and LINEDROP_SKIP_HAPROXY=1' : false;

type LogLine = Record<string, unknown> & { msg: string };

/** One `linedrop receive` child process and its JSON log. */
class Instance {
  stderr = '';
  readonly exited: Promise<number | null>;

  private constructor(
    readonly id: string,
    readonly port: number,
    readonly metricsPort: number,
    readonly child: ChildProcess,
  ) {
    child.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  }

  static async start(id: string, dir: string): Promise<Instance> {
    const port = await freePort();
    const metricsPort = await freePort();
    const args = [
      'receive',
      '--proxy-protocol',
      '--layout',
      'session',
      '--instance-id',
      id,
      '--dir',
      dir,
      '--port',
      String(port),
      '--host',
      HOST,
    ];
    args.push('--log-format', 'json', '--metrics', `${HOST}:${metricsPort}`, '--shutdown-deadline', '5');
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    const instance = new Instance(id, port, metricsPort, child);
    assert.equal(
      await until(() => instance.logs().some((l) => l.msg.startsWith('listening on')), 10_000),
      true,
      `instance ${id} starts:\n${instance.stderr}`,
    );
    return instance;
  }

  logs(): LogLine[] {
    return this.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
  }

  async metrics(): Promise<Map<string, number>> {
    const res = await fetch(`http://${HOST}:${this.metricsPort}/metrics`);
    assert.equal(res.status, 200);
    const samples = new Map<string, number>();
    for (const line of (await res.text()).split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const at = line.lastIndexOf(' ');
      samples.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
    return samples;
  }
}

/** HAProxy's `show stat` over its admin socket: server name -> status (UP, DOWN, ...). */
async function serverStates(socketPath: string): Promise<Map<string, string>> {
  const socket = connect(socketPath);
  let text = '';
  socket.on('data', (c: Buffer) => (text += c.toString()));
  await once(socket, 'connect');
  socket.end('show stat\n');
  await once(socket, 'close');
  const [header, ...rows] = text.trim().split('\n');
  const columns = (header ?? '').replace(/^# /, '').split(',');
  const name = columns.indexOf('svname');
  const proxy = columns.indexOf('pxname');
  const status = columns.indexOf('status');
  const states = new Map<string, string>();
  for (const row of rows) {
    const cells = row.split(',');
    if (cells[proxy] === 'servers' && cells[name] !== 'BACKEND') states.set(cells[name]!, cells[status]!);
  }
  return states;
}

function haproxyConfig(frontendPort: number, socketPath: string, instances: Instance[]): string {
  return `global
    maxconn 4096
    stats socket ${socketPath} mode 600 level admin

defaults
    mode tcp
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout check 1s
    retries 3
    option redispatch 1

frontend linedrop
    bind ${HOST}:${frontendPort}
    default_backend servers

backend servers
    balance roundrobin
    # Health: the --metrics endpoint's /healthz (503 once a server shuts down), not the data port.
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 200ms fastinter 100ms downinter 500ms fall 2 rise 2 send-proxy-v2
${instances.map((i) => `    server ${i.id} ${HOST}:${i.port} check port ${i.metricsPort}`).join('\n')}
`;
}

/** The content of session s's file f: unique, a few lines, names itself on its first line. */
function content(s: number, f: number): string {
  const lines = [`session ${s} file ${f}`];
  for (let k = 1; k <= 1 + ((s * 7 + f * 3) % 12); k++)
    lines.push(`s${s} f${f} line ${k} ${'.'.repeat((s + f + k) % 40)}`);
  return `${lines.join('\n')}\n`;
}

interface SessionResult {
  code: number;
  events: Record<string, unknown>[];
  stderr: string;
}

/** One `linedrop send` run in this process (the CLI's own entry point, without a process per client). */
async function sendSession(port: number, paths: string[]): Promise<SessionResult> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void): Writable =>
    new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        append(chunk.toString());
        callback();
      },
    });
  const code = await main(
    ['send', '--host', HOST, '--port', String(port), '--retry', '5', '--retry-delay', '100', '--json', ...paths],
    {
      stdin: Readable.from([]),
      stdout: sink((s) => (stdout += s)),
      stderr: sink((s) => (stderr += s)),
    },
  );
  const events = stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, events, stderr };
}

test('three servers behind HAProxy (send-proxy-v2), one killed part-way: every file once, real ' +
  'client addresses, metrics add up', {
  skip,
  timeout: 170_000,
}, async (t) => {
  assert.ok(
    found,
    'haproxy not found on PATH: this test runs HAProxy in front of three servers (run ' +
      'scripts/install-system-tools.sh haproxy, ' +
      'or apt-get install haproxy; set LINEDROP_SKIP_HAPROXY=1 to skip it)',
  );
  const work = await tempDir('linedrop-haproxy-');
  const shared = join(work, 'shared');
  const sources = join(work, 'files');
  const instances: Instance[] = [];
  let haproxy: ChildProcess | undefined;
  let haproxyOutput = '';
  try {
    await mkdir(sources);
    const paths: string[][] = [];
    for (let s = 0; s < SESSIONS; s++) {
      const session: string[] = [];
      for (let f = 0; f < FILES_PER_SESSION; f++) {
        const path = join(sources, `s${s}-f${f}.txt`);
        await writeFile(path, content(s, f));
        session.push(path);
      }
      paths.push(session);
    }

    for (const id of ['a', 'b', 'c']) instances.push(await Instance.start(id, shared));
    const victim = instances.find((i) => i.id === VICTIM)!;
    const survivors = instances.filter((i) => i !== victim);

    const frontendPort = await freePort();
    const socketPath = join(work, 'haproxy.sock');
    const config = join(work, 'haproxy.cfg');
    await writeFile(config, haproxyConfig(frontendPort, socketPath, instances));
    haproxy = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    haproxy.stdout!.on('data', (c: Buffer) => (haproxyOutput += c.toString()));
    haproxy.stderr!.on('data', (c: Buffer) => (haproxyOutput += c.toString()));
    const haproxyExit = new Promise<number | null>((resolve) => haproxy!.on('close', resolve));
    const allUp = async (): Promise<boolean> => {
      try {
        const states = await serverStates(socketPath);
        return ['a', 'b', 'c'].every((id) => states.get(id) === 'UP');
      } catch {
        return false;
      }
    };
    assert.equal(await until(allUp, 10_000), true, `HAProxy is up with a, b and c UP:\n${haproxyOutput}`);

    // 300 sessions, 30 at a time; the victim is killed once 100 have finished, while it has clients.
    const results: SessionResult[] = new Array<SessionResult>(SESSIONS);
    let nextSession = 0;
    let finished = 0;
    let killedAt: number | undefined;
    let openAtKill = -1;
    const killer = (async () => {
      await until(() => finished >= KILL_AFTER, 120_000);
      // Killed while several client sessions are in progress on it (or at least one, if it never has several).
      let seen = 0;
      const open = async (atLeast: number): Promise<boolean> => {
        seen = (await victim.metrics()).get('linedrop_connections_open') ?? 0;
        return seen >= atLeast;
      };
      if (!(await until(() => open(3), 5_000))) await until(() => open(1), 5_000);
      // Freeze it at once, so the connections just counted are still open when it dies.
      victim.child.kill('SIGSTOP');
      openAtKill = seen;
      victim.child.kill('SIGKILL');
      killedAt = Date.now();
    })();
    const worker = async (): Promise<void> => {
      while (nextSession < SESSIONS) {
        const s = nextSession++;
        results[s] = await sendSession(frontendPort, paths[s]!);
        finished++;
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await killer;
    const elapsed = Date.now() - started;
    assert.ok(killedAt !== undefined, 'the victim was killed');
    assert.equal(await victim.exited, null, 'the victim died of SIGKILL');
    assert.ok(openAtKill > 0, 'the victim had connections open when it was killed');

    // HAProxy's health checks marked the killed server down (and the others stayed up).
    assert.equal(
      await until(async () => (await serverStates(socketPath)).get(VICTIM)?.startsWith('DOWN') === true, 5_000),
      true,
    );
    const states = await serverStates(socketPath);
    assert.deepEqual([states.get('a'), states.get('c')], ['UP', 'UP'], `${[...states]}`);

    // Every session ended well, and every file was answered A exactly once.
    const failed = results.map((r, s) => [s, r] as const).filter(([, r]) => r.code !== 0);
    assert.deepEqual(
      failed.map(([s, r]) => `session ${s}: exit ${r.code}: ${r.stderr}`),
      [],
    );
    const retried = new Set<number>();
    for (const [s, r] of results.entries()) {
      const accepted = r.events.filter((e) => e['event'] === 'file' && e['status'] === 'A').map((e) => e['name']);
      assert.deepEqual(accepted, paths[s], `session ${s}: each file answered A once`);
      if (r.events.some((e) => e['event'] === 'retry')) retried.add(s);
    }
    assert.ok(retried.size > 0, 'some sessions lost their connection to the killed server and retried');

    // The disk: every file, byte for byte; a second copy only where the victim stored a file whose
    // A was lost with it (then that session retried), never two copies on a surviving server.
    const copies = new Map<string, { instance: string; folder: string }[]>();
    const filesOn = new Map<string, number>();
    const bytesOn = new Map<string, number>();
    const leftovers: string[] = [];
    for (const folder of await readdir(shared)) {
      const instance = sessionInstance(folder);
      assert.ok(
        instance !== undefined && ['a', 'b', 'c'].includes(instance),
        `a session folder of a, b or c: ${folder}`,
      );
      for (const name of await readdir(join(shared, folder))) {
        const path = join(shared, folder, name);
        if (isTempName(name)) {
          leftovers.push(`${folder}/${name}`);
          assert.equal(
            instance,
            VICTIM,
            `a temporary file is left only where the server was killed: ${folder}/${name}`,
          );
          continue;
        }
        assert.match(name, /^\d+\.txt$/);
        const body = await readFile(path, 'utf8');
        const match = /^session (\d+) file (\d+)\n/.exec(body);
        assert.ok(match, `${folder}/${name} is one of the files sent`);
        const [s, f] = [Number(match[1]), Number(match[2])];
        assert.equal(body, content(s, f), `${folder}/${name} is byte for byte session ${s}'s file ${f}`);
        const key = `${s}/${f}`;
        copies.set(key, [...(copies.get(key) ?? []), { instance, folder }]);
        filesOn.set(instance, (filesOn.get(instance) ?? 0) + 1);
        bytesOn.set(instance, (bytesOn.get(instance) ?? 0) + (await stat(path)).size);
      }
    }
    let duplicates = 0;
    const duplicatesPerSession = new Map<number, number>();
    for (let s = 0; s < SESSIONS; s++) {
      for (let f = 0; f < FILES_PER_SESSION; f++) {
        const where = copies.get(`${s}/${f}`) ?? [];
        assert.ok(where.length >= 1, `session ${s}'s file ${f} is stored`);
        if (where.length === 1) continue;
        assert.equal(where.length, 2, `session ${s}'s file ${f}: at most two copies: ${JSON.stringify(where)}`);
        assert.equal(
          where.filter((w) => w.instance === VICTIM).length,
          1,
          `session ${s}'s file ${f}: one copy on the killed server: ${JSON.stringify(where)}`,
        );
        assert.ok(retried.has(s), `session ${s}, with a second copy, retried`);
        duplicates++;
        duplicatesPerSession.set(s, (duplicatesPerSession.get(s) ?? 0) + 1);
      }
    }
    for (const [s, n] of duplicatesPerSession)
      assert.equal(n, 1, `session ${s}: one file in flight when the server died, so at most one second copy`);
    assert.ok(duplicates <= openAtKill + CONCURRENCY, 'second copies only from connections cut by the kill');

    // The logs name the clients' own ports: each client connection that got an A is, in the log of
    // the server it reached, a connection from 127.0.0.1:<the client's local port> that saved
    // exactly that connection's files. HAProxy's own connections have other ports.
    const logged = new Map<string, { instance: string; bodies: string[] }[]>();
    for (const instance of instances) {
      const byConn = new Map<number, { remote: string; paths: string[] }>();
      for (const line of instance.logs()) {
        const conn = line['connection'];
        if (typeof conn !== 'number') continue;
        if (typeof line['remote'] === 'string' && /^connection \d+ from \S+$/.test(line.msg))
          byConn.set(conn, { remote: line['remote'], paths: [] });
        if (typeof line['path'] === 'string') byConn.get(conn)?.paths.push(line['path']);
      }
      for (const { remote, paths: saved } of byConn.values()) {
        const bodies: string[] = [];
        for (const path of saved) bodies.push(await readFile(path, 'utf8'));
        logged.set(remote, [...(logged.get(remote) ?? []), { instance: instance.id, bodies }]);
      }
    }
    let clientConnections = 0;
    for (const [s, r] of results.entries()) {
      const byConnection = new Map<number, { local: string; bodies: string[] }>();
      for (const e of r.events) {
        if (e['event'] !== 'file' || e['status'] !== 'A') continue;
        const n = e['connection'] as number;
        const entry = byConnection.get(n) ?? { local: String(e['local']), bodies: [] };
        entry.bodies.push(content(s, paths[s]!.indexOf(String(e['name']))));
        byConnection.set(n, entry);
      }
      for (const { local, bodies } of byConnection.values()) {
        clientConnections++;
        assert.match(local, /^127\.0\.0\.1:\d+$/);
        const matches = (logged.get(local) ?? []).filter((l) => JSON.stringify(l.bodies) === JSON.stringify(bodies));
        assert.equal(
          matches.length,
          1,
          `session ${s}: the connection from ${local} is logged, with its files, by the server it ` +
            `reached: ${JSON.stringify(logged.get(local))}`,
        );
      }
    }

    // The survivors' metrics agree with their logs and with the disk.
    for (const instance of survivors) {
      const m = await instance.metrics();
      const logs = instance.logs();
      const opened = logs.filter((l) => /^connection \d+ from \S+$/.test(l.msg)).length;
      const saved = logs.filter((l) => typeof l['path'] === 'string').length;
      const summary = `${instance.id}: ${[...m]
        .filter(([k]) => k.startsWith('linedrop_'))
        .map(([k, v]) => `${k} ${v}`)
        .join('\n')}`;
      assert.equal(m.get('linedrop_files_accepted_total'), saved, summary);
      assert.equal(m.get('linedrop_files_accepted_total'), filesOn.get(instance.id), summary);
      assert.equal(m.get('linedrop_received_bytes_total'), bytesOn.get(instance.id), summary);
      assert.equal(m.get('linedrop_connections_total'), opened, summary);
      assert.equal(
        m.get('linedrop_connections_closed_total{reason="quit"}'),
        opened,
        `${summary}\nevery connection it had ended with the quit`,
      );
      assert.equal(m.get('linedrop_connections_open'), 0, summary);
      assert.equal(m.get('linedrop_message_duration_seconds_count'), saved, summary);
      for (const [key, v] of m) {
        if (
          key.startsWith('linedrop_connections_refused_total') ||
          key.startsWith('linedrop_files_rejected_total') ||
          key.startsWith('linedrop_limits_hit_total')
        ) {
          assert.equal(
            v,
            0,
            `${instance.id}: ${key}: nothing refused or rejected (the health checks go to the metrics port)`,
          );
        }
      }
    }
    const stored = [...filesOn.values()].reduce((a, b) => a + b, 0);
    assert.equal(stored, SESSIONS * FILES_PER_SESSION + duplicates);
    const accepted = survivors.reduce((sum, i) => sum + (filesOn.get(i.id) ?? 0), 0) + (filesOn.get(VICTIM) ?? 0);
    assert.equal(accepted, stored);

    // The survivors stop cleanly on SIGTERM.
    for (const instance of survivors) instance.child.kill('SIGTERM');
    for (const instance of survivors) assert.equal(await instance.exited, 0, instance.stderr.slice(-2000));
    haproxy.kill('SIGTERM');
    await haproxyExit;
    const perInstance = ['a', 'b', 'c'].map((id) => `${id} ${filesOn.get(id) ?? 0}`).join(', ');
    t.diagnostic(
      `${SESSIONS} sessions (${clientConnections} client connections) in ${elapsed} ms; files per ` +
        `server: ${perInstance}; ` +
        `${VICTIM} killed with ${openAtKill} connections open; ${retried.size} sessions retried; ` +
        `${duplicates} second copies (A lost with the killed server); ${leftovers.length} temporary files left by it`,
    );
  } finally {
    haproxy?.kill('SIGKILL');
    for (const instance of instances) instance.child.kill('SIGKILL');
    await sleep(50);
    await removeDir(work);
  }
});
