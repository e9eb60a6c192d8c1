// Prometheus metrics of a server, built on its events, and the small HTTP server for /metrics and /healthz.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { Registry } from 'prom-client';
import type { FileEvent } from './connection.js';
import type { ConnectionSummary, LinedropServer, RefusedEvent } from './server.js';
import { formatAddress, parseHostPort } from '../net-address.js';
import { checkSetting } from '../setting-table.js';
import { SERVER_SETTINGS } from './settings.js';

/**
 * Prometheus metrics of a `LinedropServer`, built on its events (`connectionOpened`,
 * `connectionRefused`, `file`, `connectionClosed`), in a registry of their own.
 *
 * | metric | type | labels |
 * | --- | --- | --- |
 * | `linedrop_listening` | gauge | 1 while the server accepts connections |
 * | `linedrop_connections_open` | gauge | |
 * | `linedrop_connections_total` | counter | connections accepted |
 * | `linedrop_connections_closed_total` | counter | `reason` (quit, rejected, truncated, client-closed, idle-timeout, socket-error, server-closed) |
 * | `linedrop_connections_refused_total` | counter | `reason` (not-allowed, too-many-connections, too-many-from-address, proxy-header, tls-handshake) |
 * | `linedrop_files_accepted_total` | counter | files stored and answered `A` |
 * | `linedrop_files_rejected_total` | counter | `reason` (rejected: answered `R`; truncated: the client vanished mid-message), `code` (`LINEDROP_ERR_*`,
 *   or a storage error's code) |
 * | `linedrop_received_bytes_total` | counter | bytes of the files stored |
 * | `linedrop_limits_hit_total` | counter | `limit` (max-lines, max-line-bytes, max-message-bytes, idle-timeout, max-connections, max-connections-per-address) |
 * | `linedrop_message_duration_seconds` | histogram | from a message's count to its `A` |
 * | `linedrop_commit_duration_seconds` | histogram | storage making a file durable (flush, rename, folder flush) |
 */
export interface MetricsOptions {
  /** Registry to register in (default: a new one, so several servers in one process never collide). */
  registry?: Registry;
  /**
   * Also the process metrics of prom-client (CPU, memory, open file descriptors, event loop lag, ...); default true.
   */
  processMetrics?: boolean;
}

/** Which limit a close reason, an error code or a refusal stands for. */
const LIMIT_OF_CODE: Record<string, string> = {
  LINEDROP_ERR_TOO_MANY_LINES: 'max-lines',
  LINEDROP_ERR_LINE_TOO_LONG: 'max-line-bytes',
  LINEDROP_ERR_MESSAGE_TOO_LARGE: 'max-message-bytes',
  LINEDROP_ERR_IDLE_TIMEOUT: 'idle-timeout',
};
const LIMIT_OF_REFUSAL: Partial<Record<RefusedEvent['reason'], string>> = {
  'too-many-connections': 'max-connections',
  'too-many-from-address': 'max-connections-per-address',
};
const CLOSE_REASONS: ConnectionSummary['reason'][] = [
  'quit',
  'rejected',
  'truncated',
  'client-closed',
  'idle-timeout',
  'socket-error',
  'server-closed',
];
const REFUSALS: RefusedEvent['reason'][] = [
  'not-allowed',
  'too-many-connections',
  'too-many-from-address',
  'proxy-header',
  'tls-handshake',
];
const LIMITS = [
  'max-lines',
  'max-line-bytes',
  'max-message-bytes',
  'idle-timeout',
  'max-connections',
  'max-connections-per-address',
];

const MESSAGE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const COMMIT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/** The error code a connection's summary carries, if any. */
function codeOf(error: Error | undefined): string {
  if (error === undefined) return 'none';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code !== '' ? code : 'unknown';
}

/** prom-client, loaded when the first metrics are made: a program that never serves them never pays its start-up. */
let promModule: typeof PromClient | undefined;
function promClient(): typeof PromClient {
  return (promModule ??= createRequire(import.meta.url)('prom-client') as typeof PromClient);
}

export class LinedropMetrics {
  readonly registry: Registry;
  private readonly detachers: (() => void)[] = [];

  constructor(
    readonly server: LinedropServer,
    options: MetricsOptions = {},
  ) {
    const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = promClient();
    const registry = (this.registry = options.registry ?? new Registry());
    const registers = [registry];
    if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });

    new Gauge({
      name: 'linedrop_listening',
      help: '1 while the server accepts connections, 0 before it listens and once it is shutting down',
      registers,
      collect() {
        this.set(server.listening ? 1 : 0);
      },
    });
    new Gauge({
      name: 'linedrop_connections_open',
      help: 'Connections open now',
      registers,
      collect() {
        this.set(server.connections);
      },
    });
    const connections = new Counter({ name: 'linedrop_connections_total', help: 'Connections accepted', registers });
    const closed = new Counter({
      name: 'linedrop_connections_closed_total',
      help: 'Connections ended, by how they ended',
      labelNames: ['reason'] as const,
      registers,
    });
    const refused = new Counter({
      name: 'linedrop_connections_refused_total',
      help: 'Connections closed as soon as they arrived, by why',
      labelNames: ['reason'] as const,
      registers,
    });
    const accepted = new Counter({
      name: 'linedrop_files_accepted_total',
      help: 'Files stored and answered A',
      registers,
    });
    const rejected = new Counter({
      name: 'linedrop_files_rejected_total',
      help:
        'Messages not stored: answered R (reason="rejected") or cut off by the client ' +
        'mid-message (reason="truncated"), by error code',
      labelNames: ['reason', 'code'] as const,
      registers,
    });
    const bytes = new Counter({ name: 'linedrop_received_bytes_total', help: 'Bytes of the files stored', registers });
    const limits = new Counter({
      name: 'linedrop_limits_hit_total',
      help:
        'Limits hit: messages answered R for a size limit, idle connections closed, connections ' +
        'refused for a connection limit',
      labelNames: ['limit'] as const,
      registers,
    });
    const messageDuration = new Histogram({
      name: 'linedrop_message_duration_seconds',
      help: "From a message's line count arriving to its file being stored (just before A)",
      buckets: MESSAGE_BUCKETS,
      registers,
    });
    const commitDuration = new Histogram({
      name: 'linedrop_commit_duration_seconds',
      help: 'Time storage took to make a file durable and put it in place (data flush, rename, folder flush)',
      buckets: COMMIT_BUCKETS,
      registers,
    });

    // Every known label value is there from the start, at 0, so rates and alerts see it.
    for (const reason of CLOSE_REASONS) closed.inc({ reason }, 0);
    for (const reason of REFUSALS) refused.inc({ reason }, 0);
    for (const limit of LIMITS) limits.inc({ limit }, 0);
    for (const code of ['LINEDROP_ERR_TOO_MANY_LINES', 'LINEDROP_ERR_LINE_TOO_LONG', 'LINEDROP_ERR_MESSAGE_TOO_LARGE'])
      rejected.inc({ reason: 'rejected', code }, 0);
    rejected.inc({ reason: 'truncated', code: 'LINEDROP_ERR_TRUNCATED' }, 0);

    this.listen('connectionOpened', () => connections.inc());
    this.listen('connectionRefused', (event: RefusedEvent) => {
      refused.inc({ reason: event.reason });
      const limit = LIMIT_OF_REFUSAL[event.reason];
      if (limit !== undefined) limits.inc({ limit });
    });
    this.listen('file', (event: FileEvent) => {
      accepted.inc();
      bytes.inc(event.file.bytes);
      messageDuration.observe(event.ms / 1000);
      if (typeof event.commitMs === 'number') commitDuration.observe(event.commitMs / 1000);
    });
    this.listen('connectionClosed', (summary: ConnectionSummary) => {
      closed.inc({ reason: summary.reason });
      const code = codeOf(summary.error);
      if (summary.reason === 'rejected' || summary.reason === 'truncated')
        rejected.inc({ reason: summary.reason, code });
      const limit = LIMIT_OF_CODE[code];
      if (limit !== undefined) limits.inc({ limit });
    });
  }

  /** The exposition text, for a scrape. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** True while the server accepts connections (what `/healthz` answers 200 for). */
  healthy(): boolean {
    return this.server.listening;
  }

  /** Stops counting: removes the listeners from the server. */
  detach(): void {
    for (const undo of this.detachers.splice(0)) undo();
  }

  private listen<E extends 'connectionOpened' | 'connectionRefused' | 'file' | 'connectionClosed'>(
    event: E,
    handler: (arg: never) => void,
  ): void {
    const server = this.server as unknown as {
      on(e: string, h: (arg: never) => void): void;
      off(e: string, h: (arg: never) => void): void;
    };
    server.on(event, handler);
    this.detachers.push(() => server.off(event, handler));
  }
}

/** Metrics of a server, counted from its events from now on. */
export function createMetrics(server: LinedropServer, options: MetricsOptions = {}): LinedropMetrics {
  return new LinedropMetrics(server, options);
}

/** Connections the metrics endpoint holds at once, by default: Prometheus and a load balancer's checks need a few. */
export const DEFAULT_METRICS_MAX_CONNECTIONS = SERVER_SETTINGS.metricsMaxConnections.default;
/** How long a metrics connection may stay silent (no request, or idle between requests), by default. */
export const DEFAULT_METRICS_IDLE_TIMEOUT_MS = SERVER_SETTINGS.metricsIdleTimeoutMs.default;

export interface MetricsServerOptions extends MetricsOptions {
  /** Port of the HTTP endpoint (0: any free port). */
  port: number;
  /**
   * Address to listen on (default: all interfaces). Bind it to loopback or a private address: it is not for the public.
   */
  host?: string;
  /**
   * Connections held at once (default 16), so the endpoint never takes the descriptors uploads
   * need. At the cap, a new connection closes the oldest one that has no request in progress (it
   * has sent none yet, or is idle between requests), so silent connections cannot keep a health
   * check out; when all are in a request, the new one is closed.
   */
  maxConnections?: number;
  /** A connection silent this long (no request yet, or between requests) is closed (default 10 s, at most a day). */
  idleTimeoutMs?: number;
  /** Metrics already created for the server (default: new ones). */
  metrics?: LinedropMetrics;
}

/**
 * A small HTTP server beside a linedrop server: `GET /metrics` (Prometheus text format) and
 * `GET /healthz` (200 while the linedrop server accepts connections, 503 before it listens and
 * once it is shutting down, so a load balancer stops sending it clients).
 */
export class MetricsServer {
  readonly metrics: LinedropMetrics;
  private readonly http: Server;

  /**
   * Connections open now that are not in a request (none sent yet, or idle between requests),
   * oldest first: when the cap is reached, the oldest of them makes room for a newcomer, so a
   * flood of silent connections cannot keep a health check out.
   */
  private readonly waiting = new Set<Socket>();
  /** Every connection open now. */
  private readonly sockets = new Set<Socket>();

  private constructor(metrics: LinedropMetrics, options: MetricsServerOptions) {
    this.metrics = metrics;
    const idle = checkSetting(SERVER_SETTINGS.metricsIdleTimeoutMs, options.idleTimeoutMs, 'idleTimeoutMs');
    const cap = checkSetting(SERVER_SETTINGS.metricsMaxConnections, options.maxConnections, 'maxConnections');
    this.http = createServer({ requestTimeout: idle, headersTimeout: idle }, (req, res) => {
      const socket = req.socket;
      this.waiting.delete(socket);
      // Back at the end of the line once answered: waiting for its next request, on keep-alive.
      res.once('finish', () => {
        if (this.sockets.has(socket)) this.waiting.add(socket);
      });
      void this.handle(req, res);
    });
    this.http.on('connection', (socket: Socket) => this.admit(socket, cap));
    // With no 'timeout' listener, a socket silent this long is destroyed.
    this.http.timeout = idle;
    this.http.keepAliveTimeout = Math.min(5_000, idle);
  }

  /**
   * A new connection takes a place under the cap: a free one, or that of the oldest connection
   * not in a request, which is closed; when every place is in a request, the newcomer is closed.
   */
  private admit(socket: Socket, cap: number): void {
    if (this.sockets.size >= cap) {
      const oldest = this.waiting.values().next();
      if (oldest.done) return void socket.destroy();
      this.forget(oldest.value);
      oldest.value.destroy();
    }
    this.sockets.add(socket);
    this.waiting.add(socket);
    socket.once('close', () => this.forget(socket));
  }

  private forget(socket: Socket): void {
    this.sockets.delete(socket);
    this.waiting.delete(socket);
  }

  /** Creates the metrics (unless given) and starts the HTTP endpoint. */
  static async start(server: LinedropServer, options: MetricsServerOptions): Promise<MetricsServer> {
    const metrics = options.metrics ?? createMetrics(server, options);
    let endpoint: MetricsServer;
    try {
      endpoint = new MetricsServer(metrics, options);
    } catch (err) {
      if (!options.metrics) metrics.detach();
      throw err;
    }
    endpoint.http.listen(options.port, options.host);
    try {
      await once(endpoint.http, 'listening');
    } catch (err) {
      if (!options.metrics) metrics.detach();
      throw err;
    }
    return endpoint;
  }

  address(): AddressInfo {
    const address = this.http.address();
    if (address === null || typeof address === 'string') throw new Error('the metrics server is not listening');
    return address;
  }

  /** `http://host:port`, for logs. */
  get url(): string {
    const { address, port } = this.address();
    return `http://${formatAddress(address, port)}`;
  }

  /** Stops the endpoint (open keep-alive connections too) and stops counting. */
  async close(): Promise<void> {
    this.metrics.detach();
    if (!this.http.listening) return;
    const closed = once(this.http, 'close');
    this.http.close();
    this.http.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res
        .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' })
        .end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      const healthy = this.metrics.healthy();
      res
        .writeHead(healthy ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
        .end(healthy ? 'ok\n' : 'not accepting connections\n');
      return;
    }
    if (path === '/metrics') {
      try {
        const text = await this.metrics.text();
        res
          .writeHead(200, { 'content-type': this.metrics.contentType, 'cache-control': 'no-store' })
          .end(req.method === 'HEAD' ? undefined : text);
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${(err as Error).message}\n`);
      }
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /metrics or /healthz\n');
  }
}

/** Starts the metrics and health endpoint of a server. */
export function startMetricsServer(server: LinedropServer, options: MetricsServerOptions): Promise<MetricsServer> {
  return MetricsServer.start(server, options);
}

/**
 * Parses `--metrics`: `HOST:PORT`, `[IPv6]:PORT`, or `PORT` / `:PORT` for all interfaces.
 * @throws TypeError for anything else.
 */
export function parseListenAddress(value: string): { host?: string; port: number } {
  return parseHostPort(value);
}
