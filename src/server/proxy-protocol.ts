// The PROXY protocol (v1 and v2) header a load balancer puts before a connection: a pure parser.
/**
 * The PROXY protocol (versions 1 and 2), as HAProxy and other TCP load balancers send it: a
 * header at the very start of a connection that names the real client. A pure parser: bytes in,
 * the header out.
 */
import { LinedropError } from '../errors.js';
import { isIP } from 'node:net';

/** The real endpoints, or none for a LOCAL (health check) or UNKNOWN header. */
export interface ProxyHeader {
  version: 1 | 2;
  /** `undefined` when the proxy speaks for itself (v2 LOCAL, v1 UNKNOWN, or a non-IP family). */
  source?: { address: string; port: number };
  destination?: { address: string; port: number };
}

export type ProxyParse = { done: false } | { done: true; header: ProxyHeader; length: number };

/** The bytes before the lab protocol are not a PROXY header: the proxy's fault (or a client's that bypassed it). */
export class ProxyProtocolError extends LinedropError<'LINEDROP_ERR_PROXY_PROTOCOL'> {
  override name = 'ProxyProtocolError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('LINEDROP_ERR_PROXY_PROTOCOL', message, options);
  }
}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** The longest v1 header, CRLF included (the specification's figure). */
const V1_MAX = 107;

/**
 * Parses a header at the start of `buf`. Returns `{ done: false }` while more bytes are needed.
 * @throws ProxyProtocolError when the bytes cannot be a PROXY header.
 */
export function parseProxyHeader(buf: Buffer): ProxyParse {
  if (buf.length === 0) return { done: false };
  if (buf[0] === V2_SIGNATURE[0]) return parseV2(buf);
  if (buf[0] === V1_PREFIX[0]) return parseV1(buf);
  throw new ProxyProtocolError('the connection did not start with a PROXY protocol header');
}

function parseV1(buf: Buffer): ProxyParse {
  const known = Math.min(buf.length, V1_PREFIX.length);
  if (!buf.subarray(0, known).equals(V1_PREFIX.subarray(0, known))) {
    throw new ProxyProtocolError('the connection did not start with a PROXY protocol header');
  }
  const end = buf.indexOf('\r\n');
  if (end === -1) {
    if (buf.length >= V1_MAX) throw new ProxyProtocolError('PROXY v1 header longer than 107 bytes');
    return { done: false };
  }
  if (end + 2 > V1_MAX) throw new ProxyProtocolError('PROXY v1 header longer than 107 bytes');
  const fields = buf.toString('latin1', 0, end).split(' ');
  const length = end + 2;
  if (fields[1] === 'UNKNOWN') return { done: true, header: { version: 1 }, length };
  if (fields.length !== 6 || (fields[1] !== 'TCP4' && fields[1] !== 'TCP6')) {
    throw new ProxyProtocolError(`bad PROXY v1 header: ${JSON.stringify(buf.toString('latin1', 0, end))}`);
  }
  const [, family, src = '', dst = '', sport = '', dport = ''] = fields;
  const version = family === 'TCP4' ? 4 : 6;
  for (const address of [src, dst]) {
    if (isIP(address) !== version)
      throw new ProxyProtocolError(`bad PROXY v1 header: ${JSON.stringify(address)} is not an IPv${version} address`);
  }
  return {
    done: true,
    header: {
      version: 1,
      source: { address: src, port: port(sport) },
      destination: { address: dst, port: port(dport) },
    },
    length,
  };
}

function port(text: string): number {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text) || n > 65535)
    throw new ProxyProtocolError(`bad port in PROXY header: ${JSON.stringify(text)}`);
  return n;
}

function parseV2(buf: Buffer): ProxyParse {
  const known = Math.min(buf.length, V2_SIGNATURE.length);
  if (!buf.subarray(0, known).equals(V2_SIGNATURE.subarray(0, known))) {
    throw new ProxyProtocolError('the connection did not start with a PROXY protocol header');
  }
  if (buf.length < 16) return { done: false };
  const versionCommand = buf[12]!;
  if (versionCommand >> 4 !== 2)
    throw new ProxyProtocolError(`unsupported PROXY protocol version ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  if (command > 1) throw new ProxyProtocolError(`unknown PROXY v2 command ${command}`);
  const family = buf[13]! >> 4;
  const length = 16 + buf.readUInt16BE(14);
  if (buf.length < length) return { done: false };
  // LOCAL: the proxy's own connection (a health check); the socket's addresses are the real ones.
  if (command === 0) return { done: true, header: { version: 2 }, length };
  const body = buf.subarray(16, length);
  if (family === 1) {
    if (body.length < 12) throw new ProxyProtocolError('PROXY v2 IPv4 addresses truncated');
    return {
      done: true,
      header: {
        version: 2,
        source: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8) },
        destination: { address: [...body.subarray(4, 8)].join('.'), port: body.readUInt16BE(10) },
      },
      length,
    };
  }
  if (family === 2) {
    if (body.length < 36) throw new ProxyProtocolError('PROXY v2 IPv6 addresses truncated');
    return {
      done: true,
      header: {
        version: 2,
        source: { address: ipv6(body.subarray(0, 16)), port: body.readUInt16BE(32) },
        destination: { address: ipv6(body.subarray(16, 32)), port: body.readUInt16BE(34) },
      },
      length,
    };
  }
  // UNSPEC or UNIX: nothing usable as a client address.
  return { done: true, header: { version: 2 }, length };
}

function ipv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // Shorten the longest run of zero groups, as addresses are usually written.
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (best === -1) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLength).join(':')}`;
}

/** Builds a v1 header (for clients, tests and tools). */
export function proxyHeaderV1(
  source: { address: string; port: number },
  destination: { address: string; port: number },
): Buffer {
  const family = source.address.includes(':') ? 'TCP6' : 'TCP4';
  return Buffer.from(
    `PROXY ${family} ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`,
    'latin1',
  );
}

/** Builds a v2 header for IPv4 endpoints (for tests and tools). */
export function proxyHeaderV2(
  source: { address: string; port: number },
  destination: { address: string; port: number },
): Buffer {
  const head = Buffer.alloc(16 + 12);
  V2_SIGNATURE.copy(head, 0);
  head[12] = 0x21; // version 2, PROXY
  head[13] = 0x11; // INET, STREAM
  head.writeUInt16BE(12, 14);
  Buffer.from(source.address.split('.').map(Number)).copy(head, 16);
  Buffer.from(destination.address.split('.').map(Number)).copy(head, 20);
  head.writeUInt16BE(source.port, 24);
  head.writeUInt16BE(destination.port, 26);
  return head;
}
