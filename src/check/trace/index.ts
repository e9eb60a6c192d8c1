// The order of a server's events from its system calls (strace): the wrapper that starts the
// server traced, the trace's reader, and the judge of A against the storing of its file.
export { parseTrace, type TraceEvent } from './parse.js';
export { judgeAnswers } from './order.js';
export { straceArgv, straceProblem, startTracer, SyscallTracer, TRACE_LIMIT_BYTES, TRACED_CALLS } from './strace.js';
