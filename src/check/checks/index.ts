// Every check of the server checker, in the order they run. The folder checks come first: a
// server whose numbering never restarts is then seen on its first connection by `numbering`,
// and `numbering-restarts` reports the same fault as a consequence of it.
import type { CheckDef } from '../engine.js';
import { FILE_CHECKS } from './handout-files.js';
import { WIRE_CHECKS } from './handout-wire.js';
import { PORT_CHECK } from './port.js';
import { ROBUSTNESS_CHECKS } from './robustness.js';

/** `port` comes between the handout's checks and those beyond it: it is either (`--require-port`). */
export const CHECKS: readonly CheckDef[] = [...FILE_CHECKS, ...WIRE_CHECKS, PORT_CHECK, ...ROBUSTNESS_CHECKS];
