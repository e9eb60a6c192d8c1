// npm's `prepare` and `prepack` (npm install in a clone, npm pack, installs from git): compiles dist/ when stale.
//
// npm 11 and older prepare a git dependency of a global install (`npm install -g git+...`) with
// `npm_config_global=true` inherited (npm/cli#8440, fixed in npm 12, which needs Node.js 22): the
// clone's devDependencies are not installed, so tsc is missing, and had it gone on, the global
// `linedrop` would be a link into a temporary folder npm deletes (npm/cli#4148). Say so and stop,
// with what to do instead, rather than leave a command that cannot start.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

if (!existsSync('node_modules/typescript/bin/tsc')) {
  const global = process.env.npm_config_global === 'true';
  console.error(
    global
      ? 'linedrop: this npm cannot install a package from git globally when it must be built ' +
          '(npm/cli#8440; npm 12 can).\n' +
          'Instead, in a clone: npm install && npm pack && npm install -g ./linedrop-*.tgz'
      : 'linedrop: TypeScript is not installed, so the build cannot run: run `npm install` (with ' +
          'devDependencies) first',
  );
  process.exit(1);
}
const build = spawnSync(process.execPath, ['scripts/build-if-stale.mjs'], { stdio: 'inherit' });
process.exit(build.status ?? 1);
