#!/usr/bin/env node
// Entry point. Plain JavaScript so that an older Node gets a clear message instead of a syntax
// error from the TypeScript sources (which Node >= 24 runs directly by stripping types).
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(
    `stepinfer needs Node.js 24 or newer (the Lambda nodejs24.x runtime); this is ${process.version}.\n` +
      'Run it through npm (npm start, npm run stepinfer -- ...), which uses the Node 24 pinned in devDependencies, ' +
      'or put Node 24 on PATH.',
  );
  process.exit(2);
}
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
