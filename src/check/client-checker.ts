// `ClientChecker`: the strict lab server that grades clients. It listens, gives each connection a
// session of its own (client-session.ts), and hands on each connection's report as it ends.
import { EventEmitter, once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { ClientCheckerOptions, ClientConnectionReport } from './client-report.js';
import { Session } from './client-session.js';
import { DEFAULT_PORT } from '../net-address.js';

/** The lab's port (the template's constant). */
export const LAB_PORT = DEFAULT_PORT;

export interface ClientCheckerEvents {
  opened: [{ connection: number; remote: string }];
  /** A client has been silent mid-message for `quietMs`, and the checker waits longer (lines typed by hand). */
  waiting: [{ connection: number; text: string }];
  report: [ClientConnectionReport];
}

/**
 * A strict lab server for grading clients: it records exactly what each client sends (with byte
 * offsets and timing), saves the files, answers A and Q like the lab server, and reports every
 * deviation from the protocol. It never answers R: a strict lab server has no such byte.
 */
export class ClientChecker extends EventEmitter<ClientCheckerEvents> {
  readonly reports: ClientConnectionReport[] = [];
  private readonly server: Server;
  private readonly sessions = new Set<Session>();
  private connections = 0;
  private taken = 0;
  private waiters: ((report: ClientConnectionReport) => void)[] = [];
  private acceptOne = false;

  constructor(readonly options: ClientCheckerOptions = {}) {
    super();
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
  }

  /** Starts listening (port 0 picks a free port). With `once`, stops accepting after the first connection. */
  async listen(port = LAB_PORT, host?: string, opts: { once?: boolean } = {}): Promise<AddressInfo> {
    this.acceptOne = opts.once === true;
    if (this.options.dir !== undefined) await mkdir(this.options.dir, { recursive: true });
    this.server.listen(port, host);
    await once(this.server, 'listening');
    return this.address();
  }

  address(): AddressInfo {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('the checker is not listening');
    return address;
  }

  /** The next connection report not yet taken by this method (in the order connections ended). */
  nextReport(): Promise<ClientConnectionReport> {
    const ready = this.reports[this.taken];
    if (ready) {
      this.taken++;
      return Promise.resolve(ready);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Stops accepting; connections still open are ended at once and reported. */
  async close(): Promise<void> {
    if (this.server.listening) this.server.close();
    await Promise.all([...this.sessions].map((s) => s.abort()));
  }

  private accept(socket: Socket): void {
    const id = ++this.connections;
    if (this.acceptOne && this.server.listening) this.server.close();
    const session = new Session(socket, id, this.options, (text) => this.emit('waiting', { connection: id, text }));
    this.sessions.add(session);
    this.emit('opened', { connection: id, remote: session.remote });
    void session.done.then((report) => {
      this.sessions.delete(session);
      this.reports.push(report);
      const waiter = this.waiters.shift();
      if (waiter) {
        this.taken++;
        waiter(report);
      }
      this.emit('report', report);
    });
  }
}
