// The layer rules of CONTRIBUTING.md, checked by `npm run lint:layers` (dependency-cruiser).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'protocol-no-io',
      comment:
        'src/protocol/ is the wire format only: it opens no socket and no file (net, fs are for the server, client and storage).',
      severity: 'error',
      from: { path: '^src/protocol/' },
      to: { dependencyTypes: ['core'], path: '^(node:)?(net|fs|fs/promises)$' },
    },
    {
      name: 'protocol-self-contained',
      comment:
        'src/protocol/ imports no other folder of ours (only src/errors.ts, the error model below it): everything else builds on it, never the reverse.',
      severity: 'error',
      from: { path: '^src/protocol/' },
      to: { path: '^src/', pathNot: '^src/(protocol/|errors\\.ts$)' },
    },
    {
      name: 'errors-imports-nothing',
      comment:
        'src/errors.ts (LinedropError and the argument errors) is the floor every room stands on, the protocol too: it imports nothing.',
      severity: 'error',
      from: { path: '^src/errors\\.ts$' },
      to: {},
    },
    {
      name: 'entry-points-light',
      comment:
        'linedrop/protocol and linedrop/client load no package outside Node.js (test/package/entry-points.test.ts checks it at run time too).',
      severity: 'error',
      from: { path: '^src/(protocol|client)/' },
      to: {
        dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'],
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'storage-not-server',
      comment: 'src/storage/ does not know the server: the server uses a Storage, not the other way round.',
      severity: 'error',
      from: { path: '^src/storage/' },
      to: { path: '^src/server/' },
    },
    {
      name: 'library-not-cli',
      comment:
        'The library (src/index.ts and everything it reaches) never imports src/cli/: the command line is built on the library.',
      severity: 'error',
      from: { path: '^src/index\\.ts$' },
      to: { path: '^src/cli/', reachable: true },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles: a module that needs another one it is needed by shares a third, smaller one instead.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count too: a layer may not lean on another one's types either.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
