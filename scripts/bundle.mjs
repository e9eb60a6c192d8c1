// Bundles the command line (src/cli/main.ts) into one CommonJS file, dist/cli/main.js, with esbuild,
// after tsc has checked and compiled everything into dist/src/. `bin/linedrop.js` (CommonJS too)
// requires it: Node.js then reads and compiles one file instead of resolving and loading some 30
// of our modules and commander's through its ES module loader at every start.
//
// Each `await import(...)` of ours stays lazy inside the bundle (its code runs only when reached:
// the server, the client, the checkers), and the other packages (the S3 SDK, pino, prom-client,
// cli-progress) stay outside, loaded from node_modules when a command needs them. Blanks and
// comments are left out (less to read and parse at start); names are kept, so stack traces still
// say which function. The library (dist/src/index.js) is tsc's output alone; the bundle is only
// the command.
//
// build-if-stale.mjs calls bundle() after tsc.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const OUT_DIR = 'dist/cli';
/** The file bin/linedrop.js requires. */
export const ENTRY = `${OUT_DIR}/main.js`;
/** Packages compiled into the bundle; every other dependency is loaded from node_modules at run time. */
const BUNDLED = ['commander'];

/**
 * A bundled package's code is a copy of it: its license (commander's is MIT) goes with the copy, as a
 * legal comment (`/*! ... *\/`) at the top of its entry file, which esbuild keeps in the output.
 */
const licenseNotices = {
  name: 'license-notices',
  setup(build) {
    const entries = new RegExp(`[\\\\/]node_modules[\\\\/](${BUNDLED.join('|')})[\\\\/]index\\.js$`);
    build.onLoad({ filter: entries }, (args) => {
      const folder = dirname(args.path);
      const { name, version } = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8'));
      const license = readFileSync(join(folder, 'LICENSE'), 'utf8').trim().replaceAll('*/', '* /');
      return { contents: `/*! ${name} ${version}, bundled into linedrop\n\n${license}\n*/\n${readFileSync(args.path, 'utf8')}`, loader: 'js' };
    });
  },
};

export async function bundle() {
  let build;
  try {
    ({ build } = await import('esbuild'));
  } catch (e) {
    if (e.code !== 'ERR_MODULE_NOT_FOUND') throw e;
    throw new Error('esbuild is not installed, so the command line cannot be bundled: run `npm install` (with devDependencies) first');
  }
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  const external = Object.keys(pkg.dependencies ?? {})
    .filter((name) => !BUNDLED.includes(name))
    .flatMap((name) => [name, `${name}/*`]);
  await build({
    entryPoints: {
      main: 'src/cli/main.ts',
      // `linedrop grade` runs each checker as `node worker.js` beside the code that starts it.
      worker: 'src/check/grade/worker.ts',
    },
    outdir: OUT_DIR,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external,
    define: {
      // version() answers without reading package.json (the bundle is not two folders below it).
      LINEDROP_VERSION: JSON.stringify(pkg.version),
      // What import.meta.url is in an ES module, this file's URL, for the few places that use it.
      'import.meta.url': '__fileUrl',
    },
    // "use strict" first, where it takes effect: the code was written as ES modules, which are strict.
    banner: { js: '"use strict";\nconst __fileUrl = require(\'node:url\').pathToFileURL(__filename).href;' },
    minifyWhitespace: true,
    minifySyntax: true,
    plugins: [licenseNotices],
    legalComments: 'inline',
    logLevel: 'warning',
  });
  // The package is "type": "module"; these files are CommonJS.
  writeFileSync(join(OUT_DIR, 'package.json'), '{\n  "type": "commonjs"\n}\n');
}
