// The sandbox's face for the rest of the checker: bubblewrap, its limits, and the words for a limit reached.
/** The sandbox a server is started in (bubblewrap), its limits and the words for a limit reached. */
export { ALWAYS_HIDDEN, mayHide, sandboxArgv, sandboxWrap, type SandboxSpec } from './bwrap.js';
export {
  existingFolders,
  findSandbox,
  NoSandboxError,
  onPath,
  SANDBOX_MODES,
  SANDBOX_USER,
  type SandboxMode,
} from './detect.js';
export { DEFAULT_LIMITS, KILLED_NOTE, limitsReached, limitsText, sizeWords, type SandboxLimits } from './limits.js';
