// Port discovery and the server's state from /proc (src/check/ports.ts, src/check/serving.ts), the
// crash and bind-failure readers (src/check/crash.ts, src/check/bind-failure.ts): /proc/net/tcp
// text parsed, a real Python server's listening socket found through its process, and the
// outputs of Python, Java, Node.js and C servers put into words.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { findBindFailure } from '../../src/check/bind-failure.js';
import { crashText, findCrash } from '../../src/check/crash.js';
import { connectHost, findListeners, parseProcNetTcp } from '../../src/check/ports.js';
import { servingState } from '../../src/check/serving.js';
import { until } from '../support.js';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:2F6E 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:3039 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0000000000000000 100 0 0 10 0
   2: 0100007F:2F6E 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000  1000        0 4444 1 0000000000000000 20 4 30 10 -1
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:2FBF 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5151 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:5CAC 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5252 1 0000000000000000 100 0 0 10 0
`;

describe('port discovery from /proc', () => {
  test('/proc/net/tcp and tcp6: only listening sockets, addresses and ports as people write them', () => {
    assert.deepEqual(parseProcNetTcp(TCP, 4), [
      { address: '0.0.0.0', port: 12142, family: 4, inode: '4242' },
      { address: '127.0.0.1', port: 12345, family: 4, inode: '4343' },
    ]);
    assert.deepEqual(parseProcNetTcp(TCP6, 6), [
      { address: '::', port: 12223, family: 6, inode: '5151' },
      { address: '::1', port: 23724, family: 6, inode: '5252' },
    ]);
  });

  test('the checker connects to the loopback for any-address listeners, to the address itself otherwise', () => {
    const l = (address: string, family: 4 | 6) => ({ address, port: 1, family, inode: '1' });
    assert.equal(connectHost(l('0.0.0.0', 4), '127.0.0.1'), '127.0.0.1');
    assert.equal(connectHost(l('127.0.0.2', 4), '127.0.0.1'), '127.0.0.2');
    assert.equal(connectHost(l('::', 6), '127.0.0.1'), '::1');
    assert.equal(connectHost(l('::1', 6), '127.0.0.1'), '::1');
  });

  test(
    "a server's listening socket is found through its process, and whether it waits for a " + 'connection or sleeps',
    async (t) => {
      const script = [
        'import socket, sys, time',
        "s = socket.socket(); s.bind(('', 0)); s.listen(1)",
        'print(s.getsockname()[1], flush=True)',
        'sys.stdin.readline()',
        'time.sleep(30) if sys.argv[1] == "sleep" else s.accept()',
      ].join('\n');
      for (const mode of ['accept', 'sleep']) {
        const child = spawn('python3', ['-c', script, mode], { stdio: ['pipe', 'pipe', 'inherit'] });
        t.after(() => child.kill('SIGKILL'));
        const [line] = (await once(child.stdout, 'data')) as [Buffer];
        const port = Number(line.toString().trim());
        const pids = [child.pid!];
        const found = findListeners({ pids });
        assert.deepEqual(
          found.map((l) => [l.address, l.port]),
          [['0.0.0.0', port]],
        );
        child.stdin.write('\n');
        const want = mode === 'accept' ? 'accepting' : 'idle';
        assert.ok(await until(() => servingState(pids) === want, 5000), `${mode}: ${servingState(pids)}`);
        child.kill('SIGKILL');
        await once(child, 'exit');
        assert.equal(servingState([]), 'gone');
      }
    },
  );
});

describe('a crash in words', () => {
  test('Python: the exception and the last frame', () => {
    const out = `Listening on port 12100
Traceback (most recent call last):
  File "/home/s/tcp.py", line 160, in <module>
    main()
  File "/home/s/tcp.py", line 143, in read_line
    text = line.decode('ascii')
           ^^^^^^^^^^^^^^^^^^^^
UnicodeDecodeError: 'ascii' codec can't decode byte 0xc3 in position 0: ordinal not in range(128)
`;
    const crash = findCrash(out, 'exited with status 1')!;
    assert.equal(
      crashText(crash),
      "the server crashed: UnicodeDecodeError: 'ascii' codec can't " +
        'decode byte 0xc3 (tcp.py line 143, in read_line)',
    );
  });

  test('Java: the exception and the first frame in the program', () => {
    const out = `Exception in thread "main" java.lang.NumberFormatException: For input string: "x"
\tat java.base/java.lang.NumberFormatException.forInputString(NumberFormatException.java:67)
\tat java.base/java.lang.Integer.parseInt(Integer.java:668)
\tat Server.readCount(Server.java:41)
\tat Server.main(Server.java:12)
`;
    assert.equal(
      crashText(findCrash(out, 'exited with status 1')!),
      'the server crashed: java.lang.NumberFormatException: For input string: "x" (Server.java line ' +
        '41, in Server.readCount)',
    );
  });

  test('Node.js, a signal (also as a shell status 128+n), and the last line', () => {
    const node = `/srv/server.js:12
    throw new TypeError('bad count');
    ^

TypeError: bad count
    at readCount (/srv/server.js:12:11)
    at Socket.<anonymous> (/srv/server.js:30:5)
    at Socket.emit (node:events:517:28)

Node.js v20.11.0
`;
    assert.equal(
      crashText(findCrash(node, 'exited with status 1')!),
      'the server crashed: TypeError: bad count (server.js line 12, in readCount)',
    );
    assert.match(
      crashText(findCrash('listening\n', 'killed by SIGSEGV')!),
      /^the server crashed: killed by SIGSEGV \(a segmentation fault/,
    );
    assert.match(crashText(findCrash('', 'exited with status 139')!), /killed by SIGSEGV/);
    assert.equal(
      crashText(findCrash('oops: bad thing\n', 'exited with status 2')!),
      'the server crashed: exited with status 2; its last line: oops: bad thing',
    );
    assert.equal(findCrash('bye\n', 'exited with status 0'), undefined);
  });
});

describe('a bind that failed, in words', () => {
  test("Python: the address from the traceback's line, or from the constants of its file", () => {
    const literal = `Traceback (most recent call last):
  File "/s/a.py", line 9, in tcp_receive
    s.bind(('192.168.1.187', 12100))
OSError: [Errno 99] Cannot assign requested address
`;
    const f = findBindFailure(literal)!;
    assert.equal(f.code, 'EADDRNOTAVAIL');
    assert.equal(
      f.text,
      'the server could not bind 192.168.1.187:12100: that address is not on this machine ' +
        "(EADDRNOTAVAIL); bind '' or 0.0.0.0 (every address of the machine) instead of a fixed address",
    );
    const named = literal.replace("s.bind(('192.168.1.187', 12100))", 's.bind((HOST, PORT))');
    const source = "HOST = '192.168.1.187'  # my laptop\nPORT = 12222\n";
    const g = findBindFailure(named, (file) => (file === '/s/a.py' ? source : undefined))!;
    assert.deepEqual([g.address, g.port], ['192.168.1.187', 12222]);
    assert.match(
      findBindFailure(named, () => undefined)!.text,
      /^the server could not bind its listening socket: that address is not on this machine/,
    );
  });

  test('Node.js and Go name the address; C and Java name the error; permission only where binding is spoken of', () => {
    assert.deepEqual(
      (({ code, address, port }) => [code, address, port])(
        findBindFailure('Error: listen EADDRNOTAVAIL: address not available 192.168.1.187:12100\n')!,
      ),
      ['EADDRNOTAVAIL', '192.168.1.187', 12100],
    );
    assert.equal(
      findBindFailure('listen tcp 0.0.0.0:80: bind: permission denied\n')!.text.startsWith(
        'the server could not bind 0.0.0.0:80: permission denied (EACCES)',
      ),
      true,
    );
    assert.equal(findBindFailure('bind failed: Address already in use\n')!.code, 'EADDRINUSE');
    assert.equal(findBindFailure('java.net.BindException: Cannot assign requested address\n')!.code, 'EADDRNOTAVAIL');
    assert.equal(findBindFailure('open 1.txt: Permission denied\n'), undefined);
  });
});
