// `linedrop check` against a lab server written as students write it (test/check/servers/tcp.py):
// every check runs (none skipped for want of a restart), back-to-back runs on one port leave no
// TIME_WAIT, a missing --dir is created, and a port still in use is waited for, then named.
// The flawed servers are checked in test/system/check-lab-servers.test.ts.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { checkServer } from '../../src/check/index.js';
import { freePort, HOST, removeDir, tempDir } from '../support.js';
import { ALL, checkLab, descendants, expectVerdicts, restartCmd, SERVER, timeWaitOn } from './lab-support.js';

describe('linedrop check against a lab server (Python, one connection, no SO_REUSEADDR)', () => {
  test('a correct lab server passes every required check; concurrent-clients is not applicable; exit status 0', async () => {
    const lab = await checkLab('');
    expectVerdicts(lab, {});
    assert.equal(lab.report.summary.exitCode, 0);
    assert.equal(lab.report.summary.firstFailure, null);
    assert.equal(lab.report.summary.optional.notApplicable, 1);
    // Every check but concurrent-clients (not applicable) and port (it only reports) needs a start of its own.
    assert.ok(
      lab.report.summary.restarts >= ALL.length - 2,
      `restarted before each check (${lab.report.summary.restarts})`,
    );
  });

  test('checked three times back to back on the same port: no "address already in use", no TIME_WAIT on the port', async () => {
    const port = await freePort();
    for (let i = 0; i < 3; i++) {
      const lab = await checkLab('', {
        port,
        only: ['numbering', 'quit', 'close-after-quit', 'accept', 'one-write', 'content'],
      });
      const ran = lab.report.checks.filter((c) => c.status !== 'skip' || c.skipReason !== 'not-selected');
      assert.ok(
        ran.every((c) => c.status === 'pass'),
        `run ${i + 1}: ${ran.map((c) => `${c.name} ${c.status} ${c.seen}`).join('\n')}\n${lab.report.error ?? ''}`,
      );
      assert.equal(timeWaitOn(port), 0, `run ${i + 1} left the server's port in TIME_WAIT`);
    }
    assert.deepEqual(descendants(), []);
  });

  test('a --dir that does not exist is created; the conversation shows each start of the server', async () => {
    const base = await tempDir();
    const dir = join(base, 'new', 'received');
    const port = await freePort();
    try {
      const report = await checkServer({
        host: HOST,
        port,
        dir,
        restartCmd: restartCmd(dir, port),
        timeoutMs: 1500,
        only: ['numbering', 'quit'],
      });
      assert.equal(report.checks.find((c) => c.name === 'numbering')!.status, 'pass', report.error);
      assert.equal(readFileSync(join(dir, '1.txt'), 'utf8').startsWith('numbering, file 1 1/2'), true);
      const quit = report.checks.find((c) => c.name === 'quit')!;
      assert.equal(quit.status, 'pass');
      assert.equal(quit.conversation[0]!.kind, 'refused', 'the server had exited after numbering');
      assert.match(quit.conversation[1]!.text ?? '', /^starting the server: /);
    } finally {
      await removeDir(base);
    }
  });

  test(
    'a restart that fails with "address already in use" is retried until the port is free, or ' +
      'reported naming SO_REUSEADDR',
    async () => {
      const port = await freePort();
      const dir = await tempDir();
      // Held on 127.0.0.2 only: connections to 127.0.0.1 are refused, yet the lab server cannot bind 0.0.0.0.
      const blocker = createServer((s) => s.destroy());
      blocker.listen(port, '127.0.0.2');
      await once(blocker, 'listening');
      try {
        const progress: string[] = [];
        const failed = await checkServer({
          host: HOST,
          port,
          dir,
          restartCmd: restartCmd(dir, port),
          timeoutMs: 1500,
          addrInUseMs: 1200,
          only: ['quit'],
          onProgress: (t) => progress.push(t),
        });
        assert.equal(failed.summary.exitCode, 3);
        assert.match(failed.error ?? '', /"address already in use" for \d+ s/);
        assert.match(failed.error ?? '', /SO_REUSEADDR/);
        assert.match(progress[0] ?? '', /still in use/);
        // The port is freed once the checker has seen "address already in use" and said it waits.
        const passed = await checkServer({
          host: HOST,
          port,
          dir,
          restartCmd: restartCmd(dir, port),
          timeoutMs: 1500,
          only: ['quit'],
          onProgress: () => {
            if (blocker.listening) blocker.close();
          },
        });
        assert.equal(passed.checks.find((c) => c.name === 'quit')!.status, 'pass', passed.error);
        assert.ok(passed.summary.restarts >= 2, `started again while the port was in use (${passed.summary.restarts})`);
        assert.ok(
          passed.checks.find((c) => c.name === 'quit')!.conversation.some((e) => /free again/.test(e.text ?? '')),
        );
      } finally {
        if (blocker.listening) blocker.close();
        await removeDir(dir);
      }
      assert.deepEqual(descendants(), []);
    },
  );
});

describe('a lab server on a port of its own, or on an address it cannot have', () => {
  test(
    'listening on another port: found through its process (no probe), graded there, the port ' +
      'reported; required with requirePort',
    async () => {
      const dir = await tempDir();
      const given = await freePort();
      const own = await freePort();
      try {
        const only = ['numbering', 'quit', 'accept', 'port'];
        const report = await checkServer({
          host: HOST,
          port: given,
          dir,
          restartCmd: restartCmd(dir, own),
          timeoutMs: 1500,
          only,
        });
        const status = Object.fromEntries(
          report.checks.filter((c) => only.includes(c.name)).map((c) => [c.name, c.status]),
        );
        assert.deepEqual(
          status,
          { numbering: 'pass', quit: 'pass', accept: 'pass', port: 'fail' },
          report.checks.map((c) => `${c.name}: ${c.seen}`).join('\n'),
        );
        const port = report.checks.find((c) => c.name === 'port')!;
        assert.equal(port.required, false);
        assert.match(port.seen, new RegExp(`^listens on ${own}; the port it was given is ${given}`));
        assert.deepEqual(report.listen, { expectedPort: given, host: HOST, port: own, sockets: [`0.0.0.0:${own}`] });
        assert.equal(report.summary.exitCode, 0, 'beyond the handout by default');
        const required = await checkServer({
          host: HOST,
          port: given,
          dir,
          restartCmd: restartCmd(dir, own),
          timeoutMs: 1500,
          only: ['port'],
          requirePort: true,
        });
        const alone = required.checks.find((c) => c.name === 'port')!;
        assert.equal(alone.required, true);
        assert.equal(alone.status, 'fail');
        assert.equal(required.summary.exitCode, 1);
      } finally {
        await removeDir(dir);
      }
      assert.deepEqual(descendants(), []);
    },
  );

  test('a port that changes at each start is found again', async () => {
    const dir = await tempDir();
    const given = await freePort();
    const ports = [await freePort(), await freePort()];
    // Each start takes the next port of the two.
    const cmd =
      `cd '${dir}' && n=$(cat n 2>/dev/null || echo 0) && echo $((n + 1)) > n && if [ ` +
      `$((n % 2)) = 0 ]; then p=${ports[0]}; else p=${ports[1]}; fi && printf '2\\n' | python3 '${SERVER}' $p`;
    try {
      const only = ['numbering', 'quit', 'accept'];
      const report = await checkServer({ host: HOST, port: given, dir, restartCmd: cmd, timeoutMs: 1500, only });
      assert.deepEqual(
        report.checks.filter((c) => only.includes(c.name)).map((c) => [c.name, c.status]),
        only.map((n) => [n, 'pass']),
        report.checks.map((c) => `${c.name}: ${c.seen}`).join('\n'),
      );
      assert.ok(ports.includes(report.listen!.port));
    } finally {
      await removeDir(dir);
    }
  });

  test('a server bound to a LAN address it cannot have: the report names the address, the port and the fix', async () => {
    const lab = await checkLab('bind-lan', { only: ['quit'] });
    assert.equal(lab.report.summary.exitCode, 3);
    assert.equal(lab.report.bindFailure?.code, 'EADDRNOTAVAIL');
    assert.equal(lab.report.bindFailure?.address, '192.168.1.187');
    // The address from the traceback's line and the constant it names (the port is a variable there).
    assert.match(
      lab.report.error ?? '',
      /could not bind 192\.168\.1\.187: that address is not on this machine \(EADDRNOTAVAIL\); bind ''/,
    );
  });
});
