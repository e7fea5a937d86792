// `npm run bench [kernel|partition] [options]`: the benchmarks, through the same CLI code as
// `stepinfer bench ...`. With no arguments it runs the kernel benchmark.
import { main } from '../cli/main.ts';

const args = process.argv.slice(2);
process.exitCode = await main([process.argv[0], 'stepinfer', 'bench', ...(args.length ? args : ['kernel'])]);
