// The Node.js version check, separate from the entry point so that it can be tested.
export const MINIMUM_NODE_MAJOR = 24;

/** Why this Node cannot run stepinfer, or undefined when it can. */
export function nodeVersionProblem(version) {
  const major = Number(String(version).replace(/^v/, '').split('.')[0]);
  if (Number.isInteger(major) && major >= MINIMUM_NODE_MAJOR) return undefined;
  return (
    `stepinfer needs Node.js ${MINIMUM_NODE_MAJOR} or newer (the Lambda nodejs24.x runtime); this is ${version}.\n` +
    'Run it through npm (npm start, npm run stepinfer -- <command>), which uses the Node 24 pinned in ' +
    'devDependencies, or put Node 24 on PATH.'
  );
}
