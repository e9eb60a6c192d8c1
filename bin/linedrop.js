#!/usr/bin/env node
// `linedrop --version` answers at once; everything else goes through the command line's hub,
// bundled into dist/cli/ at build time (scripts/bundle.mjs) so that it starts fast.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { version } = await import('../dist/src/cli/version.js');
  process.stdout.write(`${version()}\n`);
} else {
  const { main } = await import('../dist/cli/main.js');
  const code = await main(args);
  process.exitCode = code;
  // Standard input may still be open (a terminal): leave once what was printed is out.
  process.stdout.write('', () => process.exit(code));
}
