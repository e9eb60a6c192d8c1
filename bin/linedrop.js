#!/usr/bin/env node
// The `linedrop` command. CommonJS (bin/package.json says so), as is the command line's bundle in
// dist/cli/ (scripts/bundle.mjs): Node.js starts it without setting up its ES module loader.
// `linedrop --version` answers at once; everything else goes through the command line's hub.
const args = process.argv.slice(2);
// `linedrop receive` waits on the disk in Node's thread pool (creating files, flushing them,
// flushing folders), many at once with pipelined commits: 16 threads rather than libuv's 4,
// unless UV_THREADPOOL_SIZE says otherwise. The pool reads it when it starts, after this line.
if (args.includes('receive') && process.env.UV_THREADPOOL_SIZE === undefined) process.env.UV_THREADPOOL_SIZE = '16';
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${require('../package.json').version}\n`);
} else {
  require('../dist/cli/main.js')
    .main(args)
    .then((code) => {
      process.exitCode = code;
      // Standard input may still be open (a terminal): leave once what was printed is out.
      process.stdout.write('', () => process.exit(code));
    });
}
