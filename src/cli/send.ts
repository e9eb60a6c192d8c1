import { stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { ClientError, LinedropClient, type ConnectOptions, checkShape, measureFile, shapeOf } from '../client/client.js';
import { ProtocolError } from '../protocol/errors.js';
import type { Status } from '../protocol/status.js';
import { plural } from '../text.js';
import { ExitCode } from './exit-codes.js';

export interface SendCommandOptions {
  host: string;
  port: number;
  tls?: ConnectOptions['tls'];
  files: string[];
  stdin: Readable;
  out: Writable;
  err: Writable;
}

interface Planned {
  name: string;
  /** Standard input's bytes, read before connecting; files are streamed from disk. */
  body?: Buffer;
  lines: number;
  bytes: number;
}

/**
 * Sends each file as one message over one connection, then the zero-line message. Every file is
 * checked before anything is sent: a missing or empty file stops the command with nothing sent.
 */
export async function sendFiles(options: SendCommandOptions): Promise<ExitCode> {
  const { out, err } = options;
  const planned: Planned[] = [];
  for (const name of options.files) {
    try {
      planned.push(await plan(name, options.stdin));
    } catch (e) {
      err.write(`linedrop: ${name === '-' ? 'standard input' : name}: ${describeError(e)}\n`);
      return ExitCode.Usage;
    }
  }
  if (planned.filter((p) => p.name === '-').length > 1) {
    err.write('linedrop: standard input (-) can be sent only once\n');
    return ExitCode.Usage;
  }

  let client: LinedropClient;
  try {
    client = await LinedropClient.connect({ host: options.host, port: options.port, ...(options.tls ? { tls: options.tls } : {}) });
  } catch (e) {
    err.write(`linedrop: ${(e as Error).message}\n`);
    return ExitCode.CannotConnect;
  }

  let accepted = 0;
  for (const [i, file] of planned.entries()) {
    const label = file.name === '-' ? 'standard input' : file.name;
    let status: Status;
    try {
      status = file.body ? await client.sendBuffer(file.body) : await client.sendFile(file.name);
    } catch (e) {
      client.destroy();
      err.write(`linedrop: ${label}: ${describeError(e)}\n`);
      reportUnsent(planned.slice(i + 1), err);
      return e instanceof ClientError && e.code === 'ERR_CONNECTION_CLOSED' ? ExitCode.ConnectionLost : ExitCode.SomeRejected;
    }
    if (status === 'A') {
      accepted++;
      out.write(`${label}: accepted as ${i + 1}.txt (${plural(file.lines, 'line')}, ${plural(file.bytes, 'byte')})\n`);
      continue;
    }
    out.write(`${label}: ${status === 'R' ? 'rejected by the server' : `unexpected response ${JSON.stringify(status)}`}\n`);
    reportUnsent(planned.slice(i + 1), err);
    client.destroy();
    return ExitCode.SomeRejected;
  }

  try {
    const status = await client.quit();
    await client.whenClosed();
    if (status !== 'Q') {
      err.write(`linedrop: the server answered ${JSON.stringify(status)} to the quit message, not "Q"\n`);
      return ExitCode.SomeRejected;
    }
  } catch (e) {
    err.write(`linedrop: after ${accepted} accepted file(s): ${describeError(e)}\n`);
    return ExitCode.ConnectionLost;
  }
  return ExitCode.Ok;
}

async function plan(name: string, stdin: Readable): Promise<Planned> {
  if (name === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    const body = Buffer.concat(chunks);
    const shape = shapeOf(body);
    checkShape(shape, 'it');
    return { name, body, lines: shape.lines, bytes: shape.bytes };
  }
  const info = await stat(name);
  if (!info.isFile()) throw new Error('not a regular file');
  const shape = await measureFile(name);
  checkShape(shape, 'it');
  return { name, lines: shape.lines, bytes: shape.bytes };
}

function reportUnsent(rest: Planned[], err: Writable): void {
  for (const file of rest) err.write(`linedrop: ${file.name === '-' ? 'standard input' : file.name}: not sent\n`);
}

function describeError(e: unknown): string {
  if (e instanceof ProtocolError && e.code === 'ERR_EMPTY_FILE') {
    return 'has no lines; zero lines means "quit" on this protocol, so an empty file cannot be sent (nothing was sent)';
  }
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return 'no such file (nothing was sent)';
  return err.message ?? String(e);
}
