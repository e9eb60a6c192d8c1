/** The conformance checkers: grade any lab server (`checkServer`) or any lab client (`ClientChecker`). */
export { checkServer, skipText, SERVER_CHECKS, DEFAULT_TIMEOUT_MS } from './server-checks.js';
export type {
  CheckServerOptions,
  CheckReport,
  CheckResult,
  CheckStatus,
  CheckSummary,
  ConversationEvent,
  SkipReason,
  StatusCounts,
} from './types.js';
export {
  ClientChecker,
  LAB_PORT,
  DEFAULT_QUIET_MS,
  type ClientCheckerOptions,
  type ClientCheckerEvents,
  type ClientConnectionReport,
  type ChunkRecord,
  type Deviation,
  type DeviationKind,
  type LineRecord,
  type MessageRecord,
} from './client-checker.js';
export { serverReportText, clientReportText } from './reporters/text.js';
