// The layer rules of CONTRIBUTING.md, checked by `npm run lint:layers` (dependency-cruiser).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'protocol-no-io',
      comment: 'src/protocol/ is the wire format only: it opens no socket and no file (net, fs are for the server, client and storage).',
      severity: 'error',
      from: { path: '^src/protocol/' },
      to: { dependencyTypes: ['core'], path: '^(node:)?(net|fs|fs/promises)$' },
    },
    {
      name: 'protocol-self-contained',
      comment: 'src/protocol/ imports no other folder of ours: everything else builds on it, never the reverse.',
      severity: 'error',
      from: { path: '^src/protocol/' },
      to: { path: '^src/', pathNot: '^src/protocol/' },
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
      comment: 'The library (src/index.ts and everything it reaches) never imports src/cli/: the command line is built on the library.',
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
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
