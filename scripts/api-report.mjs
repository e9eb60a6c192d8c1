// The public API of each entry point, recorded by API Extractor in etc/<entry>.api.md.
//
// node scripts/api-report.mjs           checks: fails when an entry point's API differs from its committed report (npm
// run api:check) node scripts/api-report.mjs --update  writes the reports anew (npm run api:update), to commit with the
// change
//
// Reads the declarations tsc wrote (dist/src/**/index.d.ts): run `npm run build` first.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const update = process.argv.includes('--update');

/** Each entry point of package.json's `exports`: its report's name and its declarations. */
const ENTRIES = [
  ['linedrop', 'dist/src/index.d.ts'],
  ['linedrop-protocol', 'dist/src/protocol/index.d.ts'],
  ['linedrop-client', 'dist/src/client/index.d.ts'],
  ['linedrop-server', 'dist/src/server/index.d.ts'],
  ['linedrop-storage', 'dist/src/storage/index.d.ts'],
  ['linedrop-check', 'dist/src/check/index.d.ts'],
];

mkdirSync(join(root, 'dist/api'), { recursive: true });
let failed = 0;
for (const [name, entry] of ENTRIES) {
  if (!existsSync(join(root, entry))) {
    console.error(`${entry} is missing: run npm run build first`);
    process.exit(1);
  }
  const config = ExtractorConfig.prepare({
    configObjectFullPath: join(root, 'etc', `${name}.json`), // not read: names where the reports go
    packageJsonFullPath: join(root, 'package.json'),
    configObject: {
      projectFolder: root,
      mainEntryPointFilePath: join(root, entry),
      compiler: {
        // Only the declarations, checked as a consumer on Node.js 20 checks them.
        overrideTsconfig: {
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            lib: ['ES2022'],
            types: ['node'],
            strict: true,
            skipLibCheck: true,
          },
          files: [join(root, entry)],
        },
      },
      apiReport: {
        enabled: true,
        reportFileName: name,
        reportFolder: join(root, 'etc'),
        reportTempFolder: join(root, 'dist/api'),
      },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        compilerMessageReporting: { default: { logLevel: 'warning' } },
        extractorMessageReporting: {
          default: { logLevel: 'warning', addToApiReportFile: true },
          // The package has no release stages (@public, @beta): everything exported is public.
          'ae-missing-release-tag': { logLevel: 'none' },
          // Missing comments show in the report as `(undocumented)`; listing each again below it adds nothing.
          'ae-undocumented': { logLevel: 'none', addToApiReportFile: false },
        },
        // The doc comments are written for people, not to the TSDoc grammar.
        tsdocMessageReporting: { default: { logLevel: 'none' } },
      },
    },
  });
  const result = Extractor.invoke(config, { localBuild: update, showVerboseMessages: false });
  if (!result.succeeded) {
    failed++;
    const report = `etc/${name}.api.md`;
    console.error(
      result.apiReportChanged
        ? `${report}: the public API of ${name.replace('-', '/')} changed. If that is meant, run ` +
            `npm run api:update and commit ${report} with the change.`
        : `${name}: API Extractor failed (${result.errorCount} errors, ${result.warningCount} warnings)`,
    );
  }
}

// A program that uses the package gets its types by name, however it resolves modules: Node.js's
// own resolution (node16, nodenext) or a bundler's. Type-checked by the project's TypeScript.
const consumer = join(root, 'dist/api/consumer');
mkdirSync(consumer, { recursive: true });
writeFileSync(
  join(consumer, 'uses.ts'),
  `import { LinedropClient, LinedropServer, LinedropError, type ConnectOptions } from 'linedrop';
import { Decoder, ProtocolError } from 'linedrop/protocol';
import { ClientError } from 'linedrop/client';
import { startServer, type ServerOptions } from 'linedrop/server';
import { DirectoryStorage, type Storage } from 'linedrop/storage';
import { checkServer, type CheckReport } from 'linedrop/check';
export const uses: unknown[] = [LinedropClient, LinedropServer, LinedropError, Decoder, ProtocolError, ClientError, startServer, DirectoryStorage, checkServer];
export type Uses = [ConnectOptions, ServerOptions, Storage, CheckReport];
export const code: ProtocolError['code'] = 'LINEDROP_ERR_TRUNCATED';
`,
);
for (const [module, moduleResolution] of [
  ['node16', 'node16'],
  ['nodenext', 'nodenext'],
  ['esnext', 'bundler'],
]) {
  const tsc = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules/typescript/bin/tsc'),
      '--noEmit',
      '--strict',
      '--skipLibCheck',
      '--types',
      'node',
      '--module',
      module,
      '--moduleResolution',
      moduleResolution,
      '--target',
      'ES2022',
      join(consumer, 'uses.ts'),
    ],
    { cwd: consumer, encoding: 'utf8' },
  );
  if (tsc.status !== 0) {
    failed++;
    console.error(
      `a program that resolves modules as ${moduleResolution} does not get the ` +
        `package's types:\n${tsc.stdout}${tsc.stderr}`,
    );
  }
}

if (failed > 0) process.exit(1);
console.log(
  `${update ? `wrote the API reports of ${ENTRIES.length} entry points in etc/` : `the API of the ${ENTRIES.length} entry points matches etc/*.api.md`}; their types resolve as node16, nodenext and bundler`,
);
