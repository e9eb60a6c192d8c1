// What a server that crashed printed, in a teacher's words: the error and where it happened, from
// a Python traceback, a Java or Node.js exception, a signal (C), or else its last line.
// `the server crashed: UnicodeDecodeError: 'ascii' codec can't decode byte 0xc3 (tcp.py line 143, in read_line)`
import { constants } from 'node:os';
import { basename } from 'node:path';

export interface Crash {
  /**
   * The error as the program named it: `UnicodeDecodeError: 'ascii' codec can't decode byte 0xc3`, `killed by SIGSEGV`.
   */
  error: string;
  /** Where, when the output says: `tcp.py line 143, in read_line`, `Server.java line 20, in Server.main`. */
  where?: string;
}

export interface PythonFrame {
  file: string;
  line: number;
  func: string;
  /** The line of source Python printed under the frame, trimmed. */
  source?: string;
}

export interface PythonTraceback {
  frames: PythonFrame[];
  /** The exception line: `OSError: [Errno 99] Cannot assign requested address`. */
  exception: string;
}

const MAX_ERROR = 160;

/** The index of the last item that `test` accepts, or -1 (Array.prototype.findLastIndex is ES2023). */
export function lastIndex<T>(items: readonly T[], test: (item: T, i: number) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (test(items[i]!, i)) return i;
  return -1;
}

function shorten(text: string): string {
  return text.length > MAX_ERROR ? `${text.slice(0, MAX_ERROR - 1)}…` : text;
}

/** The last Python traceback in `output` (with chained exceptions, the one printed last). */
export function pythonTraceback(output: string): PythonTraceback | undefined {
  const lines = output.split(/\r?\n/);
  // Not always at a line's start: a prompt without a newline (`input('Select ...:')`) may come before it.
  const start = lastIndex(lines, (l) => l.includes('Traceback (most recent call last):'));
  if (start < 0) return undefined;
  const frames: PythonFrame[] = [];
  let i = start + 1;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    const m = /^\s+File "(.*)", line (\d+), in (.+)$/.exec(line);
    if (m) {
      frames.push({ file: m[1]!, line: Number(m[2]), func: m[3]! });
      continue;
    }
    // Source lines, and the ^^^^ markers of Python 3.11 and later, are indented.
    if (/^\s/.test(line)) {
      const frame = frames.at(-1);
      if (frame && frame.source === undefined && !/^\s*[~^]+\s*$/.test(line)) frame.source = line.trim();
      continue;
    }
    break;
  }
  const exception = lines[i]?.trim();
  if (!exception || frames.length === 0) return undefined;
  return { frames, exception };
}

/**
 * `UnicodeDecodeError: 'ascii' codec can't decode byte 0xc3 in position 0: ordinal not in range(128)` -> the part a
 * person needs.
 */
function pythonError(exception: string): string {
  const unicode = /^(Unicode(?:De|En)codeError: .*?) in position \d+/.exec(exception);
  return shorten(unicode ? unicode[1]! : exception);
}

/** `Exception in thread "main" java.lang.X: msg` and its first frame in the program's own code. */
function javaException(lines: string[]): Crash | undefined {
  const at = lastIndex(lines, (l) => /^Exception in thread ".*" /.test(l));
  if (at < 0) return undefined;
  const error = lines[at]!.replace(/^Exception in thread ".*?" /, '').trim();
  const frames = [];
  for (let i = at + 1; i < lines.length; i++) {
    const m = /^\s+at (?:[\w.$]+\/)?([\w.$<>]+)\((.*?)(?::(\d+))?\)$/.exec(lines[i]!);
    if (!m) break;
    frames.push({ method: m[1]!, file: m[2]!, line: m[3] });
  }
  const own =
    frames.find((f) => !/^(java|javax|jdk|sun|com\.sun)\./.test(f.method) && f.line !== undefined) ?? frames[0];
  return {
    error: shorten(error),
    ...(own ? { where: `${own.file}${own.line ? ` line ${own.line}` : ''}, in ${own.method}` } : {}),
  };
}

/** Node.js's report of an uncaught exception: `TypeError: msg` followed by `    at f (/path/file.js:12:5)` lines. */
function nodeException(lines: string[]): Crash | undefined {
  const at = lastIndex(lines, (l, i) => /^[A-Z]\w*(Error|Exception)\b.*/.test(l) && /^\s+at /.test(lines[i + 1] ?? ''));
  if (at < 0) return undefined;
  for (let i = at + 1; i < lines.length && /^\s+at /.test(lines[i]!); i++) {
    const m = /^\s+at (?:(.*?) \()?(?!node:)([^()]+?):(\d+):\d+\)?$/.exec(lines[i]!);
    if (m)
      return {
        error: shorten(lines[at]!.trim()),
        where: `${basename(m[2]!)} line ${m[3]}${m[1] ? `, in ${m[1]}` : ''}`,
      };
  }
  return { error: shorten(lines[at]!.trim()) };
}

const SIGNAL_WORDS: Partial<Record<string, string>> = {
  SIGSEGV: 'a segmentation fault: memory it may not touch',
  SIGBUS: 'a bus error: a bad memory access',
  SIGABRT: 'it aborted',
  SIGFPE: 'an arithmetic error, such as a division by zero',
  SIGILL: 'an illegal instruction',
  SIGPIPE: 'it wrote to a connection the other side had closed',
  SIGKILL: 'killed outright',
};

/** The signal named by an exit (`killed by SIGSEGV`, or a shell's `exited with status 139`), if any. */
export function signalOf(exit: string): string | undefined {
  const killed = /killed by (SIG\w+)/.exec(exit);
  if (killed) return killed[1];
  const status = /exited with status (\d+)/.exec(exit);
  const n = status ? Number(status[1]) - 128 : 0;
  if (n <= 0 || n > 31) return undefined;
  return Object.entries(constants.signals).find(([, v]) => v === n)?.[0];
}

/**
 * The crash in a server's output and exit (`exited with status 1`, `killed by SIGSEGV`), or
 * undefined when it ended well (status 0 and no traceback).
 */
export function findCrash(output: string, exit: string | undefined): Crash | undefined {
  const lines = output.split(/\r?\n/).filter((l) => l.trim() !== '');
  const tb = pythonTraceback(output);
  if (tb) {
    const frame = tb.frames.at(-1)!;
    return { error: pythonError(tb.exception), where: `${basename(frame.file)} line ${frame.line}, in ${frame.func}` };
  }
  const java = javaException(lines);
  if (java) return java;
  const failed = exit !== undefined && !/status 0$/.test(exit);
  if (!failed) return undefined;
  const node = nodeException(lines);
  if (node) return node;
  const signal = signalOf(exit);
  if (signal) {
    const words = SIGNAL_WORDS[signal];
    const last = lines.at(-1)?.trim();
    return {
      error: `killed by ${signal}${words ? ` (${words})` : ''}${last ? `; its last line: ${shorten(last)}` : ''}`,
    };
  }
  const last = lines.at(-1)?.trim();
  return { error: last ? `${exit}; its last line: ${shorten(last)}` : `${exit}, printing nothing` };
}

/** `the server crashed: UnicodeDecodeError: ... (tcp.py line 143, in read_line)` */
export function crashText(crash: Crash): string {
  return `the server crashed: ${crash.error}${crash.where ? ` (${crash.where})` : ''}`;
}
