// `linedrop grade <folder|files...> --cmd "..." --out DIR`: grade a whole class of lab servers.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { join } from 'node:path';
import { VERDICT_LABEL, type GradedSubmission, type Verdict } from '../../check/grade/types.js';
import type { Style } from '../../check/reporters/colour.js';
import type { firstFailure as FirstFailure } from '../../check/reporters/tally.js';
import { DEFAULT_PORT } from '../../net-address.js';
import { formatDuration } from '../../text.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { duration, lateDefault, size, wholeNumber } from '../flags.js';
import { addSandboxOptions, limitsOf, sandboxDefaults, type SandboxFlags } from '../sandbox-flags.js';

function command(value: string): string {
  if (!value.trim())
    throw new InvalidArgumentError(
      'expected the shell command that starts a submission, e.g. "printf \'2\\n\' | python3 {file}"',
    );
  return value;
}

const LABEL = VERDICT_LABEL;

function paint(v: Verdict, s: Style): string {
  const text = LABEL[v].padEnd(13);
  return v === 'pass' ? s.pass(text) : v === 'fail' ? s.fail(text) : s.bold(s.fail(text));
}

function progressLine(
  r: GradedSubmission,
  done: number,
  total: number,
  width: number,
  s: Style,
  firstFailure: typeof FirstFailure,
): string {
  const n = String(total).length;
  const req = r.report?.summary.required;
  const counts = req ? `${req.passed}/${req.passed + req.failed + req.skipped} required passed` : '';
  const first = firstFailure(r.report);
  const why = r.problem ?? (first ? `first failure: ${first.name}` : '');
  const seconds = (r.ms / 1000).toFixed(1).padStart(5);
  const said = why ? `  ${s.dim(why.length > 100 ? `${why.slice(0, 99)}…` : why)}` : '';
  return `[${String(done).padStart(n)}/${total}] ${r.name.padEnd(width)} ${paint(r.verdict, s)} ${counts.padEnd(24)} ${seconds} s${said}\n`;
}

interface GradeFlags extends SandboxFlags {
  cmd?: string;
  points?: string;
  maxUnzipped?: number;
  out: string;
  jobs?: number;
  timeLimit: number;
  port: number;
  isolation: 'auto' | 'netns' | 'none';
  timeout: number;
  quick?: boolean;
  requirePort?: boolean;
}

export function register(program: Command, context: CliContext): void {
  const { io } = context;
  const grade = program
    .command('grade')
    .summary('Grade a class: every submission checked against the handout, with CSV, JUnit and HTML reports')
    .description(
      'Grade a class of lab servers: each submission is copied into a working folder of its own, started with ' +
        "--cmd (without it, a .py submission starts the template's way: printf '2\\n' | python3 {file}) and " +
        'checked by `linedrop check` (every rule of the handout), with a time limit. The submissions are a ' +
        "folder's entries, files and folders named, or a course site's .zip (an entry per student, unpacked " +
        'safely). Each gets a score: a point per required check passed, or as --points says. On Linux, where ' +
        'network namespaces can be made, each runs in a namespace of its own, so every one keeps the port it ' +
        'hard-codes (12100) and several run at once; elsewhere they run one after another, each on a free ' +
        'port that --cmd receives as {port}.',
    )
    .argument(
      '<submissions...>',
      'a folder whose entries (files or folders) are the submissions, ' +
        "the submissions themselves, or a course site's .zip of them",
    )
    .option(
      '--cmd <command>',
      "shell command that starts one submission's server, run in its working folder; {file} is the " +
        'copy of the submission, {dir} the working folder, {port} the port (default for .py ' +
        "submissions: printf '2\\n' | python3 {file})",
      command,
    )
    .option(
      '--points <file>',
      'a JSON file of points per check, e.g. {"content": 3, "quit": 1}; ' +
        'checks not named: 1 if required, 0 if beyond the handout',
    )
    .addOption(
      new Option(
        '--max-unzipped <size>',
        'the most a .zip of submissions may unpack to (e.g. 200MiB); it may hold at most 20000 entries',
      )
        .default(1024 * 1024 * 1024, '1GiB')
        .argParser(size(64 * 1024 * 1024 * 1024)),
    )
    .addOption(
      new Option(
        '-o, --out <dir>',
        'folder for the reports: grades.csv, junit.xml, index.html, and a folder per submission',
      ).default('grades'),
    )
    .addOption(
      new Option(
        '-j, --jobs <n>',
        'submissions graded at once (network namespaces only; default: the number of cores)',
      ).argParser(wholeNumber(1, 256)),
    )
    .addOption(
      new Option('--time-limit <duration>', 'longest time for one submission (e.g. 120s, 3m)').argParser(
        duration('s', 1000, 3_600_000),
      ),
    )
    .addOption(
      new Option('-p, --port <port>', 'the port the servers listen on when --cmd has no {port}')
        .default(DEFAULT_PORT)
        .argParser(wholeNumber(1, 65535)),
    )
    .addOption(
      new Option(
        '--isolation <how>',
        'auto: network namespaces where they can be made, else one after another; netns: namespaces ' +
          'or fail; none: one after another',
      )
        .choices(['auto', 'netns', 'none'])
        .default('auto'),
    )
    .addOption(
      new Option(
        '--timeout <duration>',
        "the checker's longest wait for each answer of a server " +
          '(500ms, 5s, ...; a bare number is in milliseconds)',
      ).argParser(duration('ms', 100, 600_000)),
    )
    .addOption(
      new Option(
        '--quick',
        "only the handout's checks, and a 100 ms (not 1 s) pause in " + 'the template-timing check',
      ),
    )
    .addOption(
      new Option(
        '--require-port',
        "a server that listens on another port than the template's (or {port}) fails the port " +
          'check, now required; by default it is graded there and the port is only reported',
      ),
    );
  addSandboxOptions(grade, 'auto', 'each server');
  grade
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  linedrop grade submissions/ --cmd "printf \'2\\n\' | python3 {file}" --out grades\n' +
        '  linedrop grade moodle-export.zip --points points.json --out grades\n' +
        '  # without network namespaces, give each server its port:\n' +
        "  linedrop grade submissions/ --cmd \"sed 's/12100/{port}/' {file} > server.py && printf " +
        "'2\\n' | python3 server.py\"\n\n" +
        'Exit status: 0 every submission was graded (whatever its verdict: see grades.csv), 1 some submission\n' +
        'could not be checked (NOT CHECKED), 2 usage error (no submission, a bad option, an --out folder\n' +
        'holding other files, a bad --points file, an unsafe or too big .zip, no --cmd for a submission\n' +
        'that is not Python), 3 network namespaces asked for (--isolation netns) but not available, or no\n' +
        'sandbox can be made (install bubblewrap, enable user namespaces, or give --sandbox none),\n' +
        '130 interrupted (the submissions graded so far are reported).',
    )
    .action(async (paths: string[], opts: GradeFlags) => {
      const { gradeClass, NoCommandError, NoNamespacesError, OutNotOursError } = await import(
        '../../check/grade/grade.js'
      );
      const { NoSubmissionsError } = await import('../../check/grade/submissions.js');
      const { BadPointsError, readPoints } = await import('../../check/grade/points.js');
      const { BadZipError, DEFAULT_UNZIP_LIMITS } = await import('../../check/grade/unzip.js');
      const { SERVER_CHECKS } = await import('../../check/server-checks.js');
      const { NoSandboxError } = await import('../../check/sandbox/detect.js');
      const { VERDICTS } = await import('../../check/grade/types.js');
      const { styleFor } = await import('../../check/reporters/colour.js');
      const { firstFailure } = await import('../../check/reporters/tally.js');
      const err = styleFor(io.stderr);
      const controller = new AbortController();
      const interrupt = (): void => controller.abort();
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      let width = 10;
      try {
        const points = opts.points !== undefined ? await readPoints(opts.points, SERVER_CHECKS) : undefined;
        const report = await gradeClass({
          paths,
          ...(opts.cmd !== undefined ? { command: opts.cmd } : {}),
          ...(points ? { points } : {}),
          ...(opts.maxUnzipped !== undefined
            ? { unzipLimits: { maxBytes: opts.maxUnzipped, maxEntries: DEFAULT_UNZIP_LIMITS.maxEntries } }
            : {}),
          out: opts.out,
          timeLimitMs: opts.timeLimit,
          port: opts.port,
          isolation: opts.isolation,
          sandbox: opts.sandbox,
          limits: limitsOf(opts),
          timeoutMs: opts.timeout,
          ...(opts.jobs !== undefined ? { jobs: opts.jobs } : {}),
          ...(opts.quick ? { quick: true } : {}),
          ...(opts.requirePort ? { requirePort: true } : {}),
          signal: controller.signal,
          onStart: ({ submissions, namespaces, jobs, sandbox }) => {
            width = Math.min(24, Math.max(...submissions.map((s) => s.name.length)));
            const how = namespaces
              ? `${jobs} at a time, each in a network namespace of its own (${namespaces.how})`
              : `one after another, each on ${opts.cmd?.includes('{port}') ? 'a free port ({port})' : `port ${opts.port}`} (${opts.isolation === 'none' ? '--isolation none' : 'no network namespaces here'}${opts.jobs !== undefined ? '; --jobs needs them' : ''})`;
            io.stderr.write(
              `Grading ${submissions.length} submission${submissions.length === 1 ? '' : 's'}, ` +
                `${how}; time limit ${formatDuration(opts.timeLimit)} each.\n`,
            );
            io.stderr.write(
              sandbox
                ? `Each server runs in a bubblewrap ` +
                    `sandbox${namespaces ? '' : " (sharing this machine's network: no network namespaces)"}.\n`
                : 'No sandbox (--sandbox none): each server runs unconfined, as the user running linedrop.\n',
            );
          },
          onGraded: (r, done, total) => io.stderr.write(progressLine(r, done, total, width, err, firstFailure)),
        });
        const out = styleFor(io.stdout);
        const count = (v: Verdict): number => report.submissions.filter((s) => s.verdict === v).length;
        const summary = VERDICTS.filter((v) => count(v) > 0)
          .map((v) => `${count(v)} ${LABEL[v].toLowerCase()}`)
          .join(', ');
        const total = report.submissions.length;
        if (controller.signal.aborted)
          io.stdout.write(
            `Interrupted: the reports hold the ${total} submission${total === 1 ? '' : 's'} graded so far.\n`,
          );
        io.stdout.write(
          `${out.bold(`Graded ${report.submissions.length} submissions in ${(report.ms / 1000).toFixed(1)} s`)}: ${summary}.\n` +
            `  ${join(opts.out, 'index.html')}   the class at a glance, a page per submission\n` +
            `  ${join(opts.out, 'grades.csv')}   a row per submission\n` +
            `  ${join(opts.out, 'junit.xml')}    a testsuite per submission, a testcase per check\n`,
        );
        if (controller.signal.aborted) context.setExitCode(130);
        else context.setExitCode(count('error') > 0 ? ExitCode.SomeRejected : ExitCode.Ok);
      } catch (e) {
        if (
          e instanceof NoSubmissionsError ||
          e instanceof OutNotOursError ||
          e instanceof BadPointsError ||
          e instanceof BadZipError ||
          e instanceof NoCommandError
        ) {
          io.stderr.write(`linedrop grade: ${e.message}\n`);
          context.setExitCode(ExitCode.Usage);
        } else if (e instanceof NoSandboxError) {
          io.stderr.write(`linedrop grade: ${e.message}\n`);
          context.setExitCode(ExitCode.CannotConnect);
        } else if (e instanceof NoNamespacesError) {
          io.stderr.write(
            `linedrop grade: ${e.message}; run with --isolation none (or auto) to grade one after another\n`,
          );
          context.setExitCode(ExitCode.CannotConnect);
        } else {
          throw e;
        }
      } finally {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      }
    });

  // The defaults live with the grader and the checkers; they load when grade runs or shows its help.
  context.whenUsed(grade, async () => {
    const { DEFAULT_TIME_LIMIT_MS } = await import('../../check/grade/grade.js');
    const { DEFAULT_CHECK_TIMEOUT_MS } = await import('../../check/engine.js');
    lateDefault(grade, '--time-limit', DEFAULT_TIME_LIMIT_MS, formatDuration(DEFAULT_TIME_LIMIT_MS));
    lateDefault(grade, '--timeout', DEFAULT_CHECK_TIMEOUT_MS, formatDuration(DEFAULT_CHECK_TIMEOUT_MS));
    await sandboxDefaults(grade);
  });
}
