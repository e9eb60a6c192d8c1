// The limits a sandboxed server runs under (memory, processes, file size, open files, CPU time),
// their defaults, and the words for a limit it reached, found in what it printed and how it ended.
// No I/O here.

export interface SandboxLimits {
  /** Memory a process may allocate (RLIMIT_DATA): 512 MiB by default. */
  memoryBytes: number;
  /** Processes and threads of the submission at once (RLIMIT_NPROC in its own user namespace): 64. */
  pids: number;
  /** Largest file it may write (RLIMIT_FSIZE): 64 MiB. */
  fileSizeBytes: number;
  /** Open files per process (RLIMIT_NOFILE): 256. */
  openFiles: number;
  /** CPU time per process (RLIMIT_CPU), in seconds: 60. */
  cpuSeconds: number;
}

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = {
  memoryBytes: 512 * 1024 * 1024,
  pids: 64,
  fileSizeBytes: 64 * 1024 * 1024,
  openFiles: 256,
  cpuSeconds: 60,
};

/** `512 MiB`, `1.5 GiB`, `100 KiB`: whole numbers shown without decimals. */
export function sizeWords(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

/** The limits as one line, for reports: `memory 512 MiB, 64 processes, files up to 64 MiB, ...`. */
export function limitsText(l: SandboxLimits): string {
  return (
    `memory ${sizeWords(l.memoryBytes)} per process, ${l.pids} processes and threads, files up ` +
    `to ${sizeWords(l.fileSizeBytes)}, ${l.openFiles} open files, ${l.cpuSeconds} s of CPU time per process`
  );
}

/** The line the sandbox adds to the server's log when the server is killed by a signal. */
export const KILLED_NOTE = 'linedrop sandbox: the server was killed by';

type Kind = 'memory' | 'pids' | 'file-size' | 'open-files' | 'cpu';

/** What servers print (Python, C's perror and shells, Java, Go, Node, Rust) when they hit each limit. */
const SIGNS: [Kind, RegExp][] = [
  [
    'memory',
    new RegExp(
      [
        String.raw`\bMemoryError\b|std::bad_alloc|OutOfMemoryError|Cannot allocate memory|\[Errno 12\]|ENOMEM`,
        String.raw`runtime: out of memory|memory allocation of \d+ bytes failed|JavaScript heap out of memory`,
      ].join('|'),
    ),
  ],
  [
    'pids',
    new RegExp(
      [
        String.raw`\[Errno 11\] Resource temporarily unavailable|BlockingIOError\(11, 'Resource temporarily unavailable'\)`,
        String.raw`fork: (?:retry: )?Resource temporarily unavailable|can't fork|Cannot fork|can't start new thread`,
        String.raw`unable to create (?:new )?native thread|pthread_create failed|EAGAIN.*(?:fork|spawn|thread)|(?:fork|spawn|thread).*EAGAIN`,
      ].join('|'),
      'i',
    ),
  ],
  ['file-size', /\[Errno 27\] File too large|File too large|File size limit exceeded|EFBIG|SIGXFSZ/],
  ['open-files', /\[Errno 24\] Too many open files|Too many open files|EMFILE/],
  ['cpu', /CPU time limit exceeded|SIGXCPU/],
];

function words(kind: Kind, l: SandboxLimits): string {
  switch (kind) {
    case 'memory':
      return `stopped at the ${sizeWords(l.memoryBytes)} memory limit`;
    case 'pids':
      return `could not start a process: limit ${l.pids}`;
    case 'file-size':
      return `stopped at the ${sizeWords(l.fileSizeBytes)} file size limit`;
    case 'open-files':
      return `could not open a file: limit ${l.openFiles} open files`;
    case 'cpu':
      return `stopped at the ${l.cpuSeconds} s CPU time limit`;
  }
}

/**
 * The limits a server reached, in words (`stopped at the 512 MiB memory limit`), from what it
 * printed (its log, with the sandbox's own line for a server killed by SIGXFSZ or SIGXCPU).
 * In the order of SIGNS, each at most once.
 */
export function limitsReached(output: string, limits: SandboxLimits): string[] {
  return SIGNS.filter(([, sign]) => sign.test(output)).map(([kind]) => words(kind, limits));
}
