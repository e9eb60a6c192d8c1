// `--allow`: which client addresses may connect (CIDR ranges or single addresses).
import { BlockList, isIP } from 'node:net';

/** `::ffff:10.0.0.7` (an IPv4 client on a dual-stack socket) becomes `10.0.0.7`; other addresses stay. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/**
 * Which client addresses may connect, from CIDR ranges (`10.0.0.0/8`, `2001:db8::/32`) or single
 * addresses (`127.0.0.1`). IPv4 clients on a dual-stack socket are matched as IPv4.
 */
export class AllowList {
  private readonly list = new BlockList();
  readonly ranges: readonly string[];

  /** @throws TypeError naming the entry that is not an address or a CIDR range. */
  constructor(ranges: readonly string[]) {
    this.ranges = ranges;
    for (const raw of ranges) {
      const entry = raw.trim();
      const [address = '', prefixText] = entry.split('/');
      const family = isIP(address);
      if (family === 0) throw new TypeError(`not an IP address or CIDR range: ${JSON.stringify(raw)}`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (prefixText === undefined) {
        this.list.addAddress(address, type);
        continue;
      }
      const prefix = Number(prefixText);
      if (!/^\d+$/.test(prefixText) || prefix > (family === 4 ? 32 : 128)) {
        throw new TypeError(`bad prefix length in ${JSON.stringify(raw)}`);
      }
      this.list.addSubnet(address, prefix, type);
    }
  }

  allows(address: string): boolean {
    const plain = normalizeAddress(address);
    const family = isIP(plain);
    if (family === 0) return false;
    return this.list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }
}
