// `linedrop check` against lab servers with the flaws students' servers have (test/check/servers/tcp.py):
// each check's verdict, the failures that follow from another (causedBy), no check skipped, and
// no process left running. Many server processes: a system test.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkServer } from '../../src/check/index.js';
import { checkLab, descendants, expectVerdicts, restartCmd } from '../check/lab-support.js';
import { freePort, HOST, removeDir, tempDir } from '../support.js';

describe('linedrop check against flawed lab servers', () => {
  test('A before the file is written (0.3 s later) fails stored-before-answer, and only it', async () => {
    const lab = await checkLab('late-write');
    expectVerdicts(lab, { 'stored-before-answer': 'fail' });
    const check = lab.report.checks.find((c) => c.name === 'stored-before-answer')!;
    assert.match(check.seen, /A 1 arrived before the message was stored/);
    assert.equal(lab.report.summary.firstFailure, 'stored-before-answer');
    assert.equal(lab.report.summary.exitCode, 1);
  });

  test('stored-before-answer: 20 runs in a row, the late writer fails every one and the correct server none', async () => {
    const port = await freePort();
    for (const [flaw, want] of [
      ['late-write', 'fail'],
      ['', 'pass'],
    ] as const) {
      const dir = await tempDir();
      try {
        for (let i = 0; i < 20; i++) {
          const report = await checkServer({
            host: HOST,
            port,
            dir,
            restartCmd: restartCmd(dir, port, flaw),
            timeoutMs: 1500,
            only: ['stored-before-answer'],
          });
          const check = report.checks.find((c) => c.name === 'stored-before-answer')!;
          assert.equal(check.status, want, `${flaw || 'correct'} server, run ${i + 1}: ${check.seen}`);
        }
      } finally {
        await removeDir(dir);
      }
    }
    assert.deepEqual(descendants(), []);
  });

  test('appending instead of overwriting fails overwrite, and only it', async () => {
    const lab = await checkLab('append');
    expectVerdicts(lab, { overwrite: 'fail' });
    assert.match(
      lab.report.checks.find((c) => c.name === 'overwrite')!.seen,
      /the new message was appended to the earlier 1\.txt \(\d+ bytes\) instead of replacing it/,
    );
  });

  test('the common flaws are named plainly in what the checks saw', async () => {
    const cases: [flaw: string, check: string, words: RegExp][] = [
      ['crlf', 'numbering', /1\.txt: not message 1 \(every \\n was saved as \\r\\n \(Windows line ends\)/],
      [
        'from-zero',
        'numbering',
        /message 1 saved as 0\.txt, not 1\.txt: the files are numbered from 0\.txt, the handout numbers them from 1\.txt/,
      ],
      [
        'windows-path',
        'numbering',
        /1\.txt not written: the server wrote "C:\\\\Users\\\\student\\\\1\.txt".*a file name with backslashes \(a Windows path\)/,
      ],
      ['no-save', 'numbering', /1\.txt not written: nothing was saved: no k\.txt in the folder changed/],
      [
        'early-a',
        'byte-at-a-time',
        /^A sent before the lines were read: a status byte arrived when only \d+ of message 1's \d+ bytes had been sent/,
      ],
    ];
    for (const [flaw, name, words] of cases) {
      const lab = await checkLab(flaw, { only: [name] });
      const check = lab.report.checks.find((c) => c.name === name)!;
      assert.equal(check.status, 'fail', `${flaw}: ${check.seen}`);
      assert.match(check.seen, words, flaw);
    }
    assert.deepEqual(descendants(), []);
  });

  test('no Q: quit fails, and every failure that follows from it says so', async () => {
    const lab = await checkLab('no-q');
    const follow = {
      'close-after-quit': 'quit',
      'template-timing': 'quit',
      'one-write': 'quit',
      'byte-at-a-time': 'quit',
      content: 'quit',
    };
    expectVerdicts(lab, { quit: 'fail', ...Object.fromEntries(Object.keys(follow).map((n) => [n, 'fail'])) }, follow);
    assert.match(lab.report.checks.find((c) => c.name === 'close-after-quit')!.seen, /^no Q/);
    assert.equal(lab.report.summary.firstFailure, 'quit');
  });

  test('A\\n: accept fails, and every failure that follows from it says so', async () => {
    const lab = await checkLab('a-newline');
    const follow = {
      'template-timing': 'accept',
      'one-write': 'accept',
      'byte-at-a-time': 'accept',
      content: 'accept',
    };
    expectVerdicts(lab, { accept: 'fail', ...Object.fromEntries(Object.keys(follow).map((n) => [n, 'fail'])) }, follow);
    const accept = lab.report.checks.find((c) => c.name === 'accept')!;
    assert.ok(
      accept.notes.some((n) => /extra byte \(0a\)/.test(n)),
      accept.notes.join(' / '),
    );
    assert.equal(lab.report.summary.firstFailure, 'accept');
  });

  test(
    'a server that spins after a vanished client is diagnosed as stuck, stopped (even under ' +
      'timeout and setsid) and restarted',
    async () => {
      const progress: string[] = [];
      const lab = await checkLab('spin', { onProgress: (t) => progress.push(t) }, 'timeout 300 setsid');
      const follow = { 'junk-bytes': 'vanish-mid-message', 'huge-count': 'vanish-mid-message' };
      expectVerdicts(lab, { 'vanish-mid-message': 'fail', 'junk-bytes': 'fail', 'huge-count': 'fail' }, follow);
      const vanish = lab.report.checks.find((c) => c.name === 'vanish-mid-message')!;
      assert.match(vanish.seen, /no answer for 1\.5 s after the client vanished mid-message: the server looks stuck/);
      assert.ok(vanish.notes.some((n) => /stopped the server/.test(n)));
      assert.equal(lab.report.summary.exitCode, 0, 'the required checks all passed');
    },
  );

  test(
    'a crash on bytes >= 0x80 fails content, which names the crash and where; nothing else ' +
      'fails; the output kept per start',
    async () => {
      const lab = await checkLab('crash-utf8');
      expectVerdicts(lab, { content: 'fail' });
      const content = lab.report.checks.find((c) => c.name === 'content')!;
      const crashed =
        /^the server crashed: UnicodeDecodeError: 'ascii' codec can't decode byte 0xc3 \(tcp\.py line \d+, in read_line\)/;
      assert.match(content.seen, crashed);
      assert.match(content.crash?.text ?? '', crashed);
      assert.equal(content.crash?.exit, 'exited with status 1');
      const starts = lab.report.serverStarts ?? [];
      const start = starts.find((s) => s.start === content.crash?.start)!;
      assert.deepEqual(start.checks, ['content']);
      assert.match(start.output, /Traceback \(most recent call last\)/);
      assert.match(start.crash ?? '', crashed);
      assert.equal(starts.filter((s) => s.crash !== undefined).length, 1, 'only the start that served content crashed');
      assert.equal(lab.report.checks.filter((c) => c.crash !== undefined).length, 1);
    },
  );

  test(
    'a correct server that sleeps 1 s after Q before it closes: no check skipped, every check ' +
      'passes, run after run',
    async () => {
      for (let i = 0; i < 2; i++) {
        const lab = await checkLab('sleep-after-q');
        expectVerdicts(lab, {});
        assert.equal(lab.report.summary.exitCode, 0);
        // No check's connection landed in the backlog of the process on its way out (none had to run again).
        const again = lab.report.checks.filter((c) =>
          c.conversation.some((e) => /the check runs once more/.test(e.text ?? '')),
        );
        assert.deepEqual(
          again.map((c) => c.name),
          [],
        );
      }
    },
  );

  test(
    'the 1 s sleep after Q and A before the file is written: stored-before-answer fails (never ' +
      'skipped), run after run',
    async () => {
      for (let i = 0; i < 2; i++) {
        const lab = await checkLab('sleep-late-write');
        expectVerdicts(lab, { 'stored-before-answer': 'fail' });
      }
    },
  );
});
