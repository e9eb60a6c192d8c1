// What every command module gets: the streams it reads and writes, the shared line reader, its exit status.
import type { Command } from 'commander';
import type { Readable, Writable } from 'node:stream';
import type { LineInput } from './line-input.js';

/** The streams a command reads and writes: the process's own, or a test's. */
export interface CliIO {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

/** What a command module gets: the streams, the shared line reader, and a way to set the exit status. */
export interface CliContext {
  io: CliIO;
  /** Standard input read one line at a time, shared by the menu and the interactive client. */
  lineInput(): LineInput;
  setExitCode(code: number): void;
  /**
   * Runs `prepare` (once) before `command` parses its arguments or shows its help: a command loads
   * what only it needs (its defaults, the text of its help) there, so the others start fast.
   */
  whenUsed(command: Command, prepare: () => Promise<void>): void;
  /** Runs what `whenUsed` registered for `command`, if anything (once). */
  prepare(command: Command): Promise<void>;
}
