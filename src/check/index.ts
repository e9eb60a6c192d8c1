// `linedrop/check`: the conformance checkers (`checkServer` for any lab server, `ClientChecker` for
// any lab client), grading a class (`gradeClass`), and the reporters' formats.
export { LinedropError } from '../errors.js';
export { ClientChecker, LAB_PORT, type ClientCheckerEvents } from './client-checker.js';
export type {
  ChunkRecord,
  ClientCheckerOptions,
  ClientConnectionReport,
  Deviation,
  DeviationKind,
  LineRecord,
  MessageRecord,
} from './client-report.js';
export { DEFAULT_QUIET_MS, DEFAULT_TYPING_MS } from './client-session.js';
export { CheckCancelledError, DEFAULT_CHECK_TIMEOUT_MS, ServerUnreachableError } from './engine.js';
export {
  DEFAULT_TIME_LIMIT_MS,
  gradeClass,
  NoNamespacesError,
  OutNotOursError,
  writeClassFiles,
  type GradeOptions,
} from './grade/grade.js';
export { findSubmissions, NoSubmissionsError, type Submission } from './grade/submissions.js';
export type { Namespaces } from './grade/isolation.js';
export type { ClassReport, GradedSubmission, Isolation, SandboxKind, Verdict } from './grade/types.js';
export { checksCsv, gradesCsv } from './reporters/csv.js';
export {
  gradescopeJson,
  gradescopeResults,
  type GradescopeOptions,
  type GradescopeResults,
  type GradescopeTest,
} from './reporters/gradescope.js';
export { classIndexHtml, submissionHtml } from './reporters/html.js';
export { reportJson, submissionJson } from './reporters/json.js';
export { junitXml, type JunitSuite } from './reporters/junit.js';
export type { Style } from './reporters/colour.js';
export { clientReportText, serverReportText } from './reporters/text.js';
export { checkServer, SERVER_CHECKS, skipText } from './server-checks.js';
export type {
  AnswerOrder,
  BindFailureReport,
  CheckReport,
  CheckResult,
  CheckServerOptions,
  CheckStatus,
  CheckSummary,
  ConversationEvent,
  ListenReport,
  OrderSource,
  ServerCrash,
  ServerStartReport,
  SkipReason,
  StatusCounts,
} from './types.js';
export type { SandboxMode } from './sandbox/detect.js';
export type { SandboxLimits } from './sandbox/limits.js';
export type { Points } from './score.js';
export type { GradeSandbox } from './grade/submission.js';
export type { UnzipLimits } from './grade/unzip.js';
