// The port the server listens on: the one it was given (the template's 12100), or one of its own.
// The engine finds a server that listens elsewhere (ports.ts) and runs every check there; this
// check reports the port as a finding of its own. Beyond the handout by default (the handout fixes
// no port), required with `--require-port`.
import { LAB_PORT } from '../client-checker.js';
import type { CheckDef } from '../engine.js';
import { QUIT_MESSAGE } from '../../protocol/encoder.js';
import { QUIT_TEXT } from '../format.js';
import { GRACE_MS } from './helpers.js';

export const PORT_CHECK: CheckDef = {
  name: 'port',
  title: 'the server listens on the port it was given',
  required: false,
  requiredIf: (options) => options.requirePort === true,
  passive: true,
  async run(scope) {
    const { run } = scope;
    let sent = 'nothing (it reports where the other checks reached the server)';
    if (!run.connectedOnce) {
      // Run alone (--only port): one connection finds the server, and the quit ends it politely.
      const wire = await scope.connect();
      await wire.write(QUIT_MESSAGE);
      await wire.waitForStatuses(1, scope.t);
      await wire.linger(GRACE_MS);
      sent = `${QUIT_TEXT}, to reach the server`;
    }
    const given = run.options.port;
    const whose = given === LAB_PORT ? "the template's port" : 'the port it was given';
    const expected = `the server listens on port ${given} (${whose})`;
    const { port } = run.target;
    const sockets = run.listening ? ` (its listening sockets: ${run.listening.join(', ')})` : '';
    if (port === given) return { status: 'pass', sent, expected, seen: `listens on ${port}${sockets}` };
    return {
      status: 'fail',
      sent,
      expected,
      seen: `listens on ${port}; ${whose} is ${given}${sockets}`,
      notes: [
        `the checks ran on port ${port}, where the server listens; a client that uses port ` +
          `${given}, as the template's does, cannot reach it`,
      ],
    };
  },
};
