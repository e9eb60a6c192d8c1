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
import { dirname, join, relative } from 'node:path';

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
      return {
        contents: `/*! ${name} ${version}, bundled into linedrop\n\n${license}\n*/\n${readFileSync(args.path, 'utf8')}`,
        loader: 'js',
      };
    });
  },
};

/**
 * Parts of the command line bundled into files of their own (dist/cli/NAME.js), which the main
 * bundle requires only when a command reaches them, so `--help` and `send` do not compile them at
 * start. `holds(path)` says whether a source file (relative to the project) belongs to the part; an
 * import of it from outside the part becomes a require of the part's file. What a part shares with
 * the main bundle (the protocol, net-address, text) is in both: only plain values and functions
 * cross, never an object whose class the other side tests with instanceof.
 */
const PARTS = [
  // check, check-client and grade: the checkers and reporters (not the colours, which the log uses too).
  { name: 'check', holds: (path) => path.startsWith('src/check/') && path !== 'src/check/reporters/colour.ts' },
  // receive (and the menu's "receive"): the server, its storage, log and metrics.
  { name: 'receive', holds: (path) => path === 'src/cli/receive/receive.ts' },
];

/** Where a part's modules are imported from outside it: each such import gets the module from the part's file. */
function splitParts(crossings) {
  return {
    name: 'split-parts',
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, async (args) => {
        if (args.kind === 'entry-point' || args.namespace !== 'file' || args.pluginData === 'resolving')
          return undefined;
        const from = relative(process.cwd(), args.importer);
        const resolved = await build.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          pluginData: 'resolving',
        });
        if (resolved.errors.length > 0) return undefined;
        const path = relative(process.cwd(), resolved.path);
        const part = PARTS.find((p) => p.holds(path) && !p.holds(from));
        if (part === undefined) return undefined;
        crossings.get(part.name).add(path);
        return { path, namespace: 'part', pluginData: part.name };
      });
      build.onResolve({ filter: /.*/, namespace: 'part' }, (args) => ({ path: args.path, external: true }));
      build.onLoad({ filter: /.*/, namespace: 'part' }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(`./${args.pluginData}.js`)})[${JSON.stringify(args.path)}];`,
        loader: 'js',
      }));
    },
  };
}

/** A part's entry: every module imported across its border, by its path. */
function partEntry(name, paths) {
  const lines = [...paths].sort().map((path) => `  ${JSON.stringify(path)}: require(${JSON.stringify(`./${path}`)}),`);
  return {
    contents: `module.exports = {\n${lines.join('\n')}\n};\n`,
    resolveDir: process.cwd(),
    sourcefile: `${name} (part)`,
    loader: 'js',
  };
}

export async function bundle() {
  let build;
  try {
    ({ build } = await import('esbuild'));
  } catch (e) {
    if (e.code !== 'ERR_MODULE_NOT_FOUND') throw e;
    throw new Error(
      'esbuild is not installed, so the command line cannot be bundled: run `npm ' +
        'install` (with devDependencies) first',
    );
  }
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  const options = {
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // import() of a built-in or a package becomes require(): in a CommonJS file, a real import()
    // would set up the ES module loader just for it.
    supported: { 'dynamic-import': false },
    external: Object.keys(pkg.dependencies ?? {})
      .filter((name) => !BUNDLED.includes(name))
      .flatMap((name) => [name, `${name}/*`]),
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
    legalComments: 'inline',
    logLevel: 'warning',
  };
  const crossings = new Map(PARTS.map((p) => [p.name, new Set()]));
  await build({
    ...options,
    entryPoints: {
      main: 'src/cli/main.ts',
      // `linedrop grade` runs each checker as `node worker.js` beside the code that starts it.
      worker: 'src/check/grade/worker.ts',
    },
    outdir: OUT_DIR,
    plugins: [licenseNotices, splitParts(crossings)],
  });
  for (const { name } of PARTS) {
    const paths = crossings.get(name);
    if (paths.size === 0)
      throw new Error(`scripts/bundle.mjs: nothing imports the part "${name}" any more: remove it from PARTS`);
    await build({
      ...options,
      stdin: partEntry(name, paths),
      outfile: join(OUT_DIR, `${name}.js`),
      plugins: [licenseNotices],
    });
  }
  // The package is "type": "module"; these files are CommonJS.
  writeFileSync(join(OUT_DIR, 'package.json'), '{\n  "type": "commonjs"\n}\n');
}
