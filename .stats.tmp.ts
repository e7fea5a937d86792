import { inferSerial } from './functions/serial/serial-inference.ts';
import { resolveWorkload } from './cli/workload.ts';
const w = resolveWorkload({}, { defaultModel: 'benchmark', inputs: 'required' });
const r = inferSerial(w.network, w.inputs, { onLayer: (x) => { if (x.layer <= 25 || x.layer % 10 === 0) console.log(x.layer, x.activeRows, x.nonzeros, x.multiplyAdds, (x.seconds*1000).toFixed(1)); } });
console.log('total', r.seconds);
