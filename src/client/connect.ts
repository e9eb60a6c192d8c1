// Opening a client's socket: plain TCP or TLS, given up after the connect timeout, with the
// failure said as a `ClientError`.
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { formatAddress } from '../net-address.js';
import { formatDuration } from '../text.js';
import { ClientError } from './errors.js';
import type { ClientTlsOptions, ConnectSettings } from './options.js';

/**
 * A connected socket (TLS handshake done), half-open allowed, with no timeout left on it.
 * @throws ClientError `LINEDROP_ERR_CONNECT` when it cannot connect, `LINEDROP_ERR_CONNECT_TIMEOUT` when it gets no
 * answer in time.
 */
export async function openSocket({ host, port, connectTimeoutMs, tls }: ConnectSettings): Promise<Socket> {
  // node:tls (and with it node:crypto) loads only for a TLS connection.
  const socket = tls
    ? (await import('node:tls')).connect(tlsOptions(host, port, tls))
    : connect({ host, port, allowHalfOpen: true });
  const where = formatAddress(host, port);
  let timedOut = false;
  const onTimeout = (): void => {
    timedOut = true;
    socket.destroy(new Error('timed out'));
  };
  if (connectTimeoutMs > 0) socket.setTimeout(connectTimeoutMs, onTimeout);
  try {
    await once(socket, tls ? 'secureConnect' : 'connect');
  } catch (err) {
    socket.destroy();
    if (timedOut) {
      throw new ClientError(
        'LINEDROP_ERR_CONNECT_TIMEOUT',
        `cannot connect to ${where}: no answer within ${formatDuration(connectTimeoutMs)}`,
        { cause: err },
      );
    }
    throw new ClientError('LINEDROP_ERR_CONNECT', `cannot connect to ${where}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  socket.setTimeout(0);
  socket.off('timeout', onTimeout);
  return socket;
}

function tlsOptions(host: string, port: number, tls: ClientTlsOptions): ConnectionOptions {
  const options: ConnectionOptions & { allowHalfOpen?: boolean } = { host, port, allowHalfOpen: true };
  if (tls.ca !== undefined) options.ca = tls.ca;
  if (tls.cert !== undefined) options.cert = tls.cert;
  if (tls.key !== undefined) options.key = tls.key;
  // SNI takes host names only; an IP literal is still checked against the certificate's IP entries.
  const servername = tls.servername ?? (/^[\d.]+$/.test(host) || host.includes(':') ? undefined : host);
  if (servername !== undefined) options.servername = servername;
  return options;
}
