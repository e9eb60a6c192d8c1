// Bundles the command line (src/cli/main.ts) into dist/cli/ with esbuild, after tsc has checked and
// compiled everything into dist/src/. `bin/linedrop.js` runs the bundle: a few files instead of
// about 30 of ours, and commander compiled in, so Node.js neither resolves our modules one by one
// nor runs its CommonJS interop over commander's files at every start.
//
// Each `await import(...)` of ours becomes a chunk of its own that loads only when reached (the
// server, the client, the checkers), and the other packages (the S3 SDK, pino, prom-client,
// cli-progress) stay outside, loaded from node_modules when a command needs them. The library
// (dist/src/index.js) is tsc's output alone; the bundle is only the command.
//
// build-if-stale.mjs calls bundle() after tsc.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const OUT_DIR = 'dist/cli';
/** The file bin/linedrop.js imports. */
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
      // `linedrop grade` runs each checker as `node worker.js` beside the chunk that starts it.
      worker: 'src/check/grade/worker.ts',
    },
    outdir: OUT_DIR,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external,
    // version() answers without reading package.json (the bundle is not two folders below it).
    define: { LINEDROP_VERSION: JSON.stringify(pkg.version) },
    // commander is CommonJS: its require('node:events') and the like need a `require` in an ES module
    // (made on first use: every chunk gets this line, but only commander's calls it).
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module';\nlet __required;\nconst require = (id) => (__required ??= __createRequire(import.meta.url))(id);",
    },
    plugins: [licenseNotices],
    legalComments: 'inline',
    logLevel: 'warning',
  });
}
