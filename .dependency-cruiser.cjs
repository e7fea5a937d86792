// Who may import whom (issue 7): model/ is the base every folder imports; planner/ is pure
// (no I/O modules, no handlers); nothing imports the edges (cli/, bench/); no cycles anywhere.
// `npm test` runs `depcruise`, so a broken rule fails the tests and CI.
const TOP = ['model', 'planner', 'functions', 'workflows', 'infra', 'cli', 'bench', 'scripts', 'types', 'bin'];
const others = (self) => `^(${TOP.filter((t) => t !== self).join('|')})/`;

module.exports = {
  forbidden: [
    {
      name: 'model-is-the-base',
      comment: 'model/ holds models and their formats and imports no other top-level folder',
      severity: 'error',
      from: { path: '^model/' },
      to: { path: others('model') },
    },
    {
      name: 'planner-is-pure',
      comment: 'planner/ does no I/O: files, network, processes, env and clocks are read at the edges and passed in',
      severity: 'error',
      from: { path: '^planner/' },
      to: {
        dependencyTypes: ['core'],
        path: '^(node:)?(fs|fs/promises|path|os|child_process|worker_threads|net|http|https|http2|dgram|dns|tls|url|readline|process|cluster|perf_hooks|timers|timers/promises|v8|vm|inspector)$',
      },
    },
    {
      name: 'planner-imports-only-model',
      comment: 'planner/ may import model/ and itself, nothing that runs (functions/, workflows/, infra/) or the edges',
      severity: 'error',
      from: { path: '^planner/' },
      to: { path: '^(functions|workflows|infra|cli|bench|scripts)/' },
    },
    {
      name: 'functions-stay-deployable',
      comment: 'functions/ is what a Lambda bundle carries: no workflows/, infra/ or edges',
      severity: 'error',
      from: { path: '^functions/' },
      to: { path: '^(workflows|infra|cli|bench|scripts)/' },
    },
    {
      name: 'workflows-asl-is-pure',
      comment: 'workflows/asl/ renders ASL from a plan as pure functions (planner/ rules): no I/O modules, no local runtime, from functions/ only the handlers\' event schemas',
      severity: 'error',
      from: { path: '^workflows/asl/' },
      to: {
        dependencyTypes: ['core'],
        path: '^(node:)?(fs|fs/promises|path|os|child_process|worker_threads|net|http|https|http2|dgram|dns|tls|url|readline|process|cluster|perf_hooks|timers|timers/promises|v8|vm|inspector)$',
      },
    },
    {
      name: 'workflows-asl-imports-no-runtime',
      severity: 'error',
      from: { path: '^workflows/asl/' },
      to: { path: '^(functions|workflows/local|infra|cli|bench|scripts)/', pathNot: '^functions/handlers/(events|stage-run)\\.ts$' },
    },
    {
      name: 'workflows-below-the-edges',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { path: '^(infra|cli|bench)/' },
    },
    {
      name: 'infra-deploys-functions-by-path',
      comment: 'infra/ builds the stack from the plan (model/, planner/, workflows/asl/); handler entry files are paths it bundles, never imports',
      severity: 'error',
      from: { path: '^infra/' },
      to: { path: '^(functions|workflows/local)/' },
    },
    {
      name: 'infra-below-the-edges',
      severity: 'error',
      from: { path: '^infra/' },
      to: { path: '^(cli|bench)/' },
    },
    {
      name: 'cli-does-not-import-bench',
      comment: 'benchmarks use the CLI helpers; the CLI never imports them',
      severity: 'error',
      from: { path: '^cli/' },
      to: { path: '^bench/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-unresolvable',
      comment: 'an import that resolves to nothing is a typo or a missing dependency',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|cdk\\.out|\\.stepinfer)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // "types" after "main": a types-only package (asl-types) names a main file it does not ship.
    enhancedResolveOptions: { extensions: ['.ts', '.mts', '.mjs', '.js', '.json'], mainFields: ['main', 'types'] },
  },
};
