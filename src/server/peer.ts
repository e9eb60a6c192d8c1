// The client at the far end of a connection: the socket's peer, or the one a PROXY header names.
import type { Socket } from 'node:net';
import { formatAddress } from '../net-address.js';
import { normalizeAddress } from './access.js';
import { parseProxyHeader, ProxyProtocolError } from './proxy-protocol.js';

/** The client at the far end: the socket's peer, or the one a PROXY header names. */
export interface Peer {
  address: string;
  port: number;
}

/** The socket's own peer. */
export function peerOf(socket: Socket): Peer {
  return { address: normalizeAddress(socket.remoteAddress ?? '?'), port: socket.remotePort ?? 0 };
}

export function formatPeer(peer: Peer): string {
  return formatAddress(peer.address, peer.port);
}

/**
 * Reads the PROXY header off a new connection and returns the client it names (the socket's own
 * peer for a LOCAL header) within `timeoutMs`. Bytes after the header are put back for the decoder.
 */
export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<Peer> {
  socket.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    let head: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new ProxyProtocolError(`no PROXY header within ${timeoutMs} ms`)), timeoutMs);
    const finish = (err: Error | undefined, peer?: Peer, rest?: Buffer): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.pause();
      if (err) return reject(err);
      if (rest && rest.length > 0) socket.unshift(rest);
      resolve(peer!);
    };
    const onEnd = (): void => finish(new ProxyProtocolError('the connection ended before its PROXY header'));
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      let parsed;
      try {
        parsed = parseProxyHeader(head);
      } catch (err) {
        return finish(err as Error);
      }
      if (!parsed.done) return;
      const source = parsed.header.source;
      const peer = source ? { address: normalizeAddress(source.address), port: source.port } : peerOf(socket);
      finish(undefined, peer, head.subarray(parsed.length));
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}
