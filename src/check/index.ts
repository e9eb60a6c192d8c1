/** The conformance checkers: grade any lab server (`checkServer`) or any lab client (`ClientChecker`). */
export { checkServer, skipText, SERVER_CHECKS } from './server-checks.js';
export { DEFAULT_TIMEOUT_MS } from './engine.js';
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
export { ClientChecker, LAB_PORT, type ClientCheckerEvents } from './client-checker.js';
export { DEFAULT_QUIET_MS } from './client-session.js';
export type {
  ClientCheckerOptions,
  ClientConnectionReport,
  ChunkRecord,
  Deviation,
  DeviationKind,
  LineRecord,
  MessageRecord,
} from './client-report.js';
export { serverReportText, clientReportText } from './reporters/text.js';
