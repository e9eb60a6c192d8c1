// Checks the Wireshark dissector (tools/wireshark/linedrop.lua) against captures built here from
// known byte sequences: text2pcap turns hex dumps into frames, tshark runs the dissector over them.
//
// tshark, text2pcap and mergecap (Debian: tshark, which pulls in wireshark-common) must be on PATH;
// scripts/install-system-tools.sh tshark installs them. Without them every test here fails, unless
// LINEDROP_SKIP_TSHARK=1 is set, which turns that failure into a skip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

// The tests run from dist/test/system/, three levels below the repository root.
const LUA = fileURLToPath(new URL('../../../tools/wireshark/linedrop.lua', import.meta.url));
const TOOLS = ['tshark', 'text2pcap', 'mergecap'] as const;
const SERVER_PORT = 12100;
const TOOL_TIMEOUT_MS = 20_000;

const missing = TOOLS.filter((tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).error !== undefined);
const skipMissing = missing.length > 0 && process.env['LINEDROP_SKIP_TSHARK'] === '1';
const skip = skipMissing ? `${missing.join(', ')} not installed and LINEDROP_SKIP_TSHARK=1` : false;
const missingMessage =
  `${missing.join(', ')} not found on PATH: the Wireshark dissector tests need tshark 4.x ` +
  `(run scripts/install-system-tools.sh tshark, or set LINEDROP_SKIP_TSHARK=1 to skip these tests)`;

// ---------------------------------------------------------------------------------------------
// Building captures

type Dir = 'c' | 's'; // client -> server, server -> client

/** One TCP segment's payload, for text2pcap's own TCP headers (-T with -D direction markers). */
interface Segment {
  dir: Dir;
  data: Buffer;
}

const TH_FIN = 0x01;
const TH_SYN = 0x02;
const TH_RST = 0x04;
const TH_PSH = 0x08;
const TH_ACK = 0x10;

/** A segment with explicit TCP flags, for frames text2pcap cannot make (SYN, FIN, RST). */
interface RawSegment {
  dir: Dir;
  data?: Buffer;
  flags?: number;
}

/** A 4-byte big-endian line count followed by the lines, each with its '\n'. */
function message(lines: string[]): Buffer {
  const count = Buffer.alloc(4);
  count.writeUInt32BE(lines.length);
  return Buffer.concat([count, ...lines.map((line) => Buffer.from(`${line}\n`, 'utf8'))]);
}

const bytes = (...values: number[]): Buffer => Buffer.from(values);
const text = (s: string): Buffer => Buffer.from(s, 'utf8');
const c = (data: Buffer): Segment => ({ dir: 'c', data });
const s = (data: Buffer): Segment => ({ dir: 's', data });

/** text2pcap's hex dump format: an offset, then up to 16 bytes, per line; offsets restart per packet. */
function hexdump(data: Buffer): string {
  let out = '';
  for (let off = 0; off < data.length; off += 16) {
    const row = [...data.subarray(off, off + 16)].map((b) => b.toString(16).padStart(2, '0'));
    out += `${off.toString(16).padStart(6, '0')} ${row.join(' ')}\n`;
  }
  return out;
}

/**
 * A capture made by text2pcap's dummy headers. With -D, text2pcap 4.x reads "I" (inbound) or "O"
 * (outbound) before each packet: inbound packets go from the -4/-T source to the destination as
 * given, outbound ones the other way round, and it keeps one sequence number per direction
 * (starting at 0, advanced by each payload) and acknowledges the other direction's, so TCP
 * reassembles the stream. The client is the -T source, the server the destination.
 */
async function text2pcapCapture(
  dir: string,
  name: string,
  net: number,
  clientPort: number,
  serverPort: number,
  segments: Segment[],
): Promise<string> {
  const input = segments.map((seg) => `${seg.dir === 'c' ? 'I' : 'O'}\n${hexdump(seg.data)}`).join('');
  const txt = join(dir, `${name}.txt`);
  const out = join(dir, `${name}.pcapng`);
  await writeFile(txt, input);
  await run(
    'text2pcap',
    ['-q', '-D', '-T', `${clientPort},${serverPort}`, '-4', `127.0.${net}.1,127.0.${net}.2`, txt, out],
    {
      timeout: TOOL_TIMEOUT_MS,
    },
  );
  return out;
}

function checksum(...parts: Buffer[]): number {
  const data = Buffer.concat(parts);
  let sum = 0;
  for (let i = 0; i < data.length; i += 2) sum += (data[i] ?? 0) * 256 + (data[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** One connection whose frames are built whole (Ethernet, IPv4, TCP), with sequence numbers kept here. */
class Connection {
  private readonly seq: Record<Dir, number>;

  constructor(
    private readonly net: number,
    private readonly clientPort: number,
    isn: number,
  ) {
    this.seq = { c: isn, s: isn + 0x10000 };
  }

  frame(seg: RawSegment): Buffer {
    const data = seg.data ?? Buffer.alloc(0);
    const flags = seg.flags ?? TH_PSH | TH_ACK;
    const other: Dir = seg.dir === 'c' ? 's' : 'c';
    const clientIp = bytes(127, 0, this.net, 1);
    const serverIp = bytes(127, 0, this.net, 2);
    const [srcIp, dstIp] = seg.dir === 'c' ? [clientIp, serverIp] : [serverIp, clientIp];
    const [srcPort, dstPort] = seg.dir === 'c' ? [this.clientPort, SERVER_PORT] : [SERVER_PORT, this.clientPort];

    const tcp = Buffer.alloc(20);
    tcp.writeUInt16BE(srcPort, 0);
    tcp.writeUInt16BE(dstPort, 2);
    tcp.writeUInt32BE(this.seq[seg.dir] >>> 0, 4);
    tcp.writeUInt32BE(flags & TH_ACK ? this.seq[other] >>> 0 : 0, 8);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp.writeUInt16BE(0xffff, 14);
    const pseudo = Buffer.concat([
      srcIp,
      dstIp,
      bytes(0, 6),
      Buffer.from([(20 + data.length) >> 8, (20 + data.length) & 0xff]),
    ]);
    tcp.writeUInt16BE(checksum(pseudo, tcp, data), 16);

    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + 20 + data.length, 2);
    ip.writeUInt16BE(0x4000, 6); // don't fragment
    ip[8] = 64;
    ip[9] = 6;
    srcIp.copy(ip, 12);
    dstIp.copy(ip, 16);
    ip.writeUInt16BE(checksum(ip), 10);

    const macC = bytes(0x02, 0, 0, 0, this.net, 1);
    const macS = bytes(0x02, 0, 0, 0, this.net, 2);
    const eth = Buffer.concat(seg.dir === 'c' ? [macS, macC] : [macC, macS]);

    this.seq[seg.dir] += data.length + (flags & (TH_SYN | TH_FIN) ? 1 : 0);
    return Buffer.concat([eth, bytes(0x08, 0x00), ip, tcp, data]);
  }

  /** The three-way handshake. */
  open(): Buffer[] {
    return [
      this.frame({ dir: 'c', flags: TH_SYN }),
      this.frame({ dir: 's', flags: TH_SYN | TH_ACK }),
      this.frame({ dir: 'c', flags: TH_ACK }),
    ];
  }
}

/** A capture of whole Ethernet frames; text2pcap adds no headers of its own. */
async function rawCapture(dir: string, name: string, frames: Buffer[]): Promise<string> {
  const txt = join(dir, `${name}.txt`);
  const out = join(dir, `${name}.pcapng`);
  await writeFile(txt, frames.map(hexdump).join(''));
  await run('text2pcap', ['-q', txt, out], { timeout: TOOL_TIMEOUT_MS });
  return out;
}

// ---------------------------------------------------------------------------------------------
// The cases. Each uses its own addresses 127.0.<net>.1 (client) and 127.0.<net>.2 (server), so one
// merged capture holds them all and each case's frames are picked out by address.

const NET = {
  template: 1,
  byteCount: 2,
  pipelined: 3,
  rejected: 4,
  cut: 5,
  badStatus: 6,
  afterDone: 7,
  everyByte: 8,
  otherPort: 9,
} as const;

const everyByteStream = Buffer.concat([message(['ab', 'c']), message([])]);

async function buildCaptures(dir: string): Promise<{ main: string; otherPort: string }> {
  const rejected = new Connection(NET.rejected, 40004, 1000);
  const cutA = new Connection(NET.cut, 40005, 2000);
  const cutB = new Connection(NET.cut, 40005, 900_000); // same addresses and ports, later connection
  const cutC = new Connection(NET.cut, 40006, 3000);
  const tooMany = bytes(0x00, 0x0f, 0x42, 0x40); // 1,000,000 lines

  const parts = await Promise.all([
    // the lab template client: the count as 00 00, a pause, then 00 NN
    text2pcapCapture(dir, 'template', NET.template, 40001, SERVER_PORT, [
      c(bytes(0, 0)),
      c(bytes(0, 2)),
      c(text('alpha\nbeta\n')),
      s(text('A')),
      c(bytes(0, 0)),
      c(bytes(0, 1)),
      c(text('gamma\n')),
      s(text('A')),
      c(bytes(0, 0)),
      c(bytes(0, 0)),
      s(text('Q')),
    ]),
    // the count one byte at a time, a line split over two segments, an empty line
    text2pcapCapture(dir, 'byte-count', NET.byteCount, 40002, SERVER_PORT, [
      c(bytes(0)),
      c(bytes(0)),
      c(bytes(0)),
      c(bytes(3)),
      c(text('a\n\nc')),
      c(text('cc\n')),
      s(text('A')),
      c(bytes(0)),
      c(bytes(0)),
      c(bytes(0)),
      c(bytes(0)),
      s(text('Q')),
    ]),
    // several messages per segment, the third one's count split between two segments
    text2pcapCapture(dir, 'pipelined', NET.pipelined, 40003, SERVER_PORT, [
      c(Buffer.concat([message(['one']), message(['two', 'héllo']), bytes(0, 0)])),
      c(Buffer.concat([bytes(0, 1), text('x\n'), message([])])),
      s(text('AAAQ')),
    ]),
    // a count over the server's limit: R, then the server closes with the message unfinished
    rawCapture(dir, 'rejected', [
      ...rejected.open(),
      rejected.frame({ dir: 'c', data: message(['fine']) }),
      rejected.frame({ dir: 's', data: text('A') }),
      rejected.frame({ dir: 'c', data: Buffer.concat([tooMany, text('x\n')]) }),
      rejected.frame({ dir: 's', data: text('R') }),
      rejected.frame({ dir: 's', flags: TH_FIN | TH_ACK }),
      rejected.frame({ dir: 'c', flags: TH_RST }),
    ]),
    // the client closes (FIN) inside its second message's lines; a new connection on the same
    // ports starts again at message 1; another one resets (RST) inside the 4-byte count
    rawCapture(dir, 'cut', [
      ...cutA.open(),
      cutA.frame({ dir: 'c', data: message(['l1', 'l2']) }),
      cutA.frame({ dir: 's', data: text('A') }),
      cutA.frame({ dir: 'c', data: text('\x00\x00\x00\x03one\ntwo\n') }),
      cutA.frame({ dir: 'c', flags: TH_FIN | TH_ACK }),
      cutA.frame({ dir: 's', flags: TH_FIN | TH_ACK }),
      ...cutB.open(),
      cutB.frame({ dir: 'c', data: Buffer.concat([message(['z']), message([])]) }),
      cutB.frame({ dir: 's', data: text('AQ') }),
      cutB.frame({ dir: 's', flags: TH_FIN | TH_ACK }),
      cutB.frame({ dir: 'c', flags: TH_FIN | TH_ACK }),
      ...cutC.open(),
      cutC.frame({ dir: 'c', data: bytes(0, 0) }),
      cutC.frame({ dir: 'c', flags: TH_RST }),
    ]),
    // a status byte that is not A, Q or R, then one more status than there are messages
    text2pcapCapture(dir, 'bad-status', NET.badStatus, 40007, SERVER_PORT, [
      c(message(['q'])),
      s(text('X')),
      s(text('A')),
    ]),
    // client bytes after the zero-line message, in the same segment and in a later one
    text2pcapCapture(dir, 'after-done', NET.afterDone, 40008, SERVER_PORT, [
      c(Buffer.concat([message([]), message(['x'])])),
      s(text('Q')),
      c(text('more')),
    ]),
    // every byte in a segment of its own
    text2pcapCapture(dir, 'every-byte', NET.everyByte, 40009, SERVER_PORT, [
      ...[...everyByteStream].map((b) => c(bytes(b))),
      s(text('A')),
      s(text('Q')),
    ]),
    // a server on another port: decoded only when told to
    text2pcapCapture(dir, 'other-port', NET.otherPort, 40010, 12200, [c(message(['p'])), s(text('A'))]),
  ]);
  const main = join(dir, 'all.pcapng');
  await run('mergecap', ['-a', '-w', main, ...parts], { timeout: TOOL_TIMEOUT_MS });
  const otherPort = parts[parts.length - 1];
  assert.ok(otherPort !== undefined);
  return { main, otherPort };
}

// ---------------------------------------------------------------------------------------------
// Running tshark

/** Output fields, by the short names the expected rows use. */
const FIELDS = {
  count: 'linedrop.count',
  msgno: 'linedrop.msgno',
  file: 'linedrop.file',
  line: 'linedrop.line',
  line_len: 'linedrop.line_len',
  body_len: 'linedrop.body_len',
  status: 'linedrop.status',
  status_msgno: 'linedrop.status_msgno',
  request_in: 'linedrop.request_in',
  response_in: 'linedrop.response_in',
  trailing: 'linedrop.trailing',
  cut_msgno: 'linedrop.cut.msgno',
  cut_count: 'linedrop.cut.count',
  cut_lines: 'linedrop.cut.lines',
  cut_bytes: 'linedrop.cut.bytes',
  expert: '_ws.expert.message',
} as const;
type Key = keyof typeof FIELDS;
/** A frame: its direction, then every non-empty field; several values are joined by '|'. */
type Row = { dir: Dir } & Partial<Record<Key, string>>;

// TCP's own expert messages, left out of the expected rows.
const TCP_EXPERT =
  /^(Connection (establish|finish|reset)|A new tcp session is started with the same ports|This frame (initiates|undergoes) the connection closing)/;

/**
 * Runs tshark with the dissector; returns the rows of each case (by net), frame numbers made
 * relative to the case. `home` stands in for $HOME, so that the user's Wireshark preferences and
 * personal plugins (maybe this very dissector, installed) stay out of the run.
 */
async function dissect(home: string, file: string, extraArgs: string[]): Promise<Map<number, Row[]>> {
  const keys = Object.keys(FIELDS) as Key[];
  const args = [
    '-n',
    '-X',
    `lua_script:${LUA}`,
    ...extraArgs,
    '-r',
    file,
    '-T',
    'fields',
    '-E',
    'aggregator=|',
    '-E',
    'occurrence=a',
  ];
  for (const field of ['frame.number', 'ip.src', 'ip.dst', ...keys.map((k) => FIELDS[k])]) args.push('-e', field);
  const { stdout, stderr } = await run('tshark', args, {
    timeout: TOOL_TIMEOUT_MS,
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config') },
  });
  assert.doesNotMatch(stderr, /lua/i, `tshark reported a Lua problem:\n${stderr}`);

  const byNet = new Map<number, Row[]>();
  const firstFrame = new Map<number, number>();
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const [frameText, src, dst, ...values] = line.split('\t');
    const frame = Number(frameText);
    const net = Number(/^127\.0\.(\d+)\.\d+$/.exec(src ?? '')?.[1]);
    if (!Number.isInteger(frame) || !Number.isInteger(net)) throw new Error(`unexpected tshark line: ${line}`);
    const first = firstFrame.get(net) ?? frame;
    firstFrame.set(net, first);
    const row: Row = { dir: (src ?? '').endsWith('.1') && (dst ?? '').endsWith('.2') ? 'c' : 's' };
    keys.forEach((key, i) => {
      let value = values[i] ?? '';
      if (key === 'expert') {
        value = value
          .split('|')
          .filter((m) => m !== '' && !TCP_EXPERT.test(m))
          .join('|');
      }
      if (key === 'request_in' || key === 'response_in') {
        // frame numbers in the merged capture -> frame numbers within the case
        value =
          value === ''
            ? ''
            : value
                .split('|')
                .map((n) => String(Number(n) - first + 1))
                .join('|');
      }
      if (value !== '') row[key] = value;
    });
    const rows = byNet.get(net) ?? [];
    rows.push(row);
    byNet.set(net, rows);
  }
  return byNet;
}

interface Results {
  onePass: Map<number, Row[]>;
  twoPass: Map<number, Row[]>;
  portPref: Map<number, Row[]>;
  decodeAs: Map<number, Row[]>;
}

let pending: Promise<Results> | undefined;

/** Builds the captures and runs tshark once per mode, on first use; every test shares the result. */
function results(): Promise<Results> {
  pending ??= (async () => {
    if (missing.length > 0) throw new Error(missingMessage);
    const dir = await mkdtemp(join(tmpdir(), 'linedrop-wireshark-'));
    try {
      const { main, otherPort } = await buildCaptures(dir);
      const home = join(dir, 'home');
      await mkdir(home);
      const [onePass, twoPass, portPref, decodeAs] = await Promise.all([
        dissect(home, main, []),
        dissect(home, main, ['-2']), // a second pass dissects every frame again, from the stored state
        dissect(home, otherPort, ['-o', 'linedrop.port:12200']),
        dissect(home, otherPort, ['-d', 'tcp.port==12200,linedrop']),
      ]);
      return { onePass, twoPass, portPref, decodeAs };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return pending;
}

/**
 * Asserts a case's rows in both modes. response_in (the frame of the status byte) is only known
 * once the whole capture has been seen, so the one-pass run must not show it.
 */
async function expectRows(net: number, expected: Row[]): Promise<void> {
  const { onePass, twoPass } = await results();
  assert.deepEqual(twoPass.get(net), expected, 'tshark -2 (dissected again after a first pass)');
  const withoutResponse = expected.map(({ response_in: _unused, ...rest }) => rest);
  assert.deepEqual(onePass.get(net), withoutResponse, 'tshark, one pass');
}

// ---------------------------------------------------------------------------------------------

test('tshark, text2pcap and mergecap are installed', { skip }, () => {
  assert.deepEqual(missing, [], missingMessage);
});

test('template client: count split as 00 00 | 00 NN, two files then done', { skip }, async () => {
  await expectRows(NET.template, [
    { dir: 'c' },
    { dir: 'c' },
    {
      dir: 'c',
      count: '2',
      msgno: '1',
      file: '1.txt',
      line: 'alpha|beta',
      line_len: '5|4',
      body_len: '11',
      response_in: '4',
    },
    { dir: 's', status: "'A'", status_msgno: '1', request_in: '3' },
    { dir: 'c' },
    { dir: 'c' },
    { dir: 'c', count: '1', msgno: '2', file: '2.txt', line: 'gamma', line_len: '5', body_len: '6', response_in: '8' },
    { dir: 's', status: "'A'", status_msgno: '2', request_in: '7' },
    { dir: 'c' },
    { dir: 'c', count: '0', msgno: '3', body_len: '0', response_in: '11', expert: 'Zero-line message: client is done' },
    { dir: 's', status: "'Q'", status_msgno: '3', request_in: '10' },
  ]);
});

test('count sent one byte at a time, a line split over segments, an empty line', { skip }, async () => {
  await expectRows(NET.byteCount, [
    { dir: 'c' },
    { dir: 'c' },
    { dir: 'c' },
    { dir: 'c' },
    { dir: 'c' },
    {
      dir: 'c',
      count: '3',
      msgno: '1',
      file: '1.txt',
      line: 'a||ccc',
      line_len: '1|0|3',
      body_len: '7',
      response_in: '7',
    },
    { dir: 's', status: "'A'", status_msgno: '1', request_in: '6' },
    { dir: 'c' },
    { dir: 'c' },
    { dir: 'c' },
    { dir: 'c', count: '0', msgno: '2', body_len: '0', response_in: '12', expert: 'Zero-line message: client is done' },
    { dir: 's', status: "'Q'", status_msgno: '2', request_in: '11' },
  ]);
});

test('pipelined messages in one segment, a count split at a segment end, UTF-8 text', { skip }, async () => {
  await expectRows(NET.pipelined, [
    {
      dir: 'c',
      count: '1|2',
      msgno: '1|2',
      file: '1.txt|2.txt',
      line: 'one|two|héllo',
      line_len: '3|3|6',
      body_len: '4|11',
      response_in: '3|3',
    },
    {
      dir: 'c',
      count: '1|0',
      msgno: '3|4',
      file: '3.txt',
      line: 'x',
      line_len: '1',
      body_len: '2|0',
      response_in: '3|3',
      expert: 'Zero-line message: client is done',
    },
    { dir: 's', status: "'A'|'A'|'A'|'Q'", status_msgno: '1|2|3|4', request_in: '1|1|2|2' },
  ]);
});

test('rejected message: server sends R and closes', { skip }, async () => {
  await expectRows(NET.rejected, [
    { dir: 'c' },
    { dir: 's' },
    { dir: 'c' },
    { dir: 'c', count: '1', msgno: '1', file: '1.txt', line: 'fine', line_len: '4', body_len: '5', response_in: '5' },
    { dir: 's', status: "'A'", status_msgno: '1', request_in: '4' },
    { dir: 'c' },
    { dir: 's', status: "'R'", status_msgno: '2', expert: 'Server rejected message 2' },
    {
      dir: 's',
      cut_msgno: '2',
      cut_count: '1000000',
      cut_lines: '1',
      cut_bytes: '6',
      expert:
        'Connection closed by the server (FIN) in the middle of message 2: 1 of 1000000 lines ' +
        'received (after the server rejected it)',
    },
    { dir: 'c' },
  ]);
});

test('connection cut mid-message (FIN in the lines, RST in the count); port reuse starts again at 1', {
  skip,
}, async () => {
  await expectRows(NET.cut, [
    // connection A
    { dir: 'c' },
    { dir: 's' },
    { dir: 'c' },
    {
      dir: 'c',
      count: '2',
      msgno: '1',
      file: '1.txt',
      line: 'l1|l2',
      line_len: '2|2',
      body_len: '6',
      response_in: '5',
    },
    { dir: 's', status: "'A'", status_msgno: '1', request_in: '4' },
    { dir: 'c' },
    {
      dir: 'c',
      cut_msgno: '2',
      cut_count: '3',
      cut_lines: '2',
      cut_bytes: '12',
      expert: 'Connection closed by the client (FIN) in the middle of message 2: 2 of 3 lines received',
    },
    { dir: 's' },
    // connection B: same addresses and ports
    { dir: 'c' },
    { dir: 's' },
    { dir: 'c' },
    {
      dir: 'c',
      count: '1|0',
      msgno: '1|2',
      file: '1.txt',
      line: 'z',
      line_len: '1',
      body_len: '2|0',
      response_in: '13|13',
      expert: 'Zero-line message: client is done',
    },
    { dir: 's', status: "'A'|'Q'", status_msgno: '1|2', request_in: '12|12' },
    { dir: 's' },
    { dir: 'c' },
    // connection C
    { dir: 'c' },
    { dir: 's' },
    { dir: 'c' },
    { dir: 'c' },
    {
      dir: 'c',
      cut_msgno: '1',
      cut_lines: '0',
      cut_bytes: '2',
      expert:
        'Connection closed by the client (RST) in the middle of message 1: 2 bytes of its ' +
        '4-byte line count received',
    },
  ]);
});

test('status byte other than A/Q/R, and a status with no message to answer', { skip }, async () => {
  await expectRows(NET.badStatus, [
    { dir: 'c', count: '1', msgno: '1', file: '1.txt', line: 'q', line_len: '1', body_len: '2', response_in: '2' },
    {
      dir: 's',
      status: "'X'",
      status_msgno: '1',
      request_in: '1',
      expert: 'Unexpected status byte 0x58 (not A, Q or R)',
    },
    { dir: 's', status: "'A'", status_msgno: '2', expert: 'Status byte 2, but the client has sent only 1 message' },
  ]);
});

test('client data after the zero-line message', { skip }, async () => {
  await expectRows(NET.afterDone, [
    {
      dir: 'c',
      count: '0',
      msgno: '1',
      body_len: '0',
      trailing: '00000001780a',
      response_in: '2',
      expert: 'Zero-line message: client is done|Client sent 6 bytes after its zero-line message',
    },
    { dir: 's', status: "'Q'", status_msgno: '1', request_in: '1' },
    { dir: 'c', trailing: '6d6f7265', expert: 'Client sent 4 bytes after its zero-line message' },
  ]);
});

test('every byte in a segment of its own', { skip }, async () => {
  const expected: Row[] = [...everyByteStream].map((): Row => ({ dir: 'c' }));
  // message 1 ends with byte 9 ("c\n"), message 2 (zero lines) with byte 13
  expected[8] = {
    dir: 'c',
    count: '2',
    msgno: '1',
    file: '1.txt',
    line: 'ab|c',
    line_len: '2|1',
    body_len: '5',
    response_in: '14',
  };
  expected[12] = {
    dir: 'c',
    count: '0',
    msgno: '2',
    body_len: '0',
    response_in: '15',
    expert: 'Zero-line message: client is done',
  };
  expected.push({ dir: 's', status: "'A'", status_msgno: '1', request_in: '9' });
  expected.push({ dir: 's', status: "'Q'", status_msgno: '2', request_in: '13' });
  await expectRows(NET.everyByte, expected);
});

test('another server port: ignored by default, decoded with the port preference or Decode As', { skip }, async () => {
  const { onePass, portPref, decodeAs } = await results();
  assert.deepEqual(onePass.get(NET.otherPort), [{ dir: 'c' }, { dir: 's' }], 'port 12200 is not decoded by default');
  const decoded: Row[] = [
    { dir: 'c', count: '1', msgno: '1', file: '1.txt', line: 'p', line_len: '1', body_len: '2' },
    { dir: 's', status: "'A'", status_msgno: '1', request_in: '1' },
  ];
  assert.deepEqual(portPref.get(NET.otherPort), decoded, '-o linedrop.port:12200');
  assert.deepEqual(decodeAs.get(NET.otherPort), decoded, '-d tcp.port==12200,linedrop');
});
