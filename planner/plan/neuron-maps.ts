// Compact storage of neuron maps (which worker owns each neuron) in plan.json. A map is stored as
// the shortest of: a reference to an identical earlier map (shared partitions reuse one map for
// every layer), runs "owner x length" (block partitions, serial), or the little-endian Uint16Array
// in base64.

import { z } from 'zod';

export const encodedNeuronMapSchema = z.discriminatedUnion('encoding', [
  z.object({
    encoding: z.literal('same-as'),
    /** Index of an earlier map in the same list. */
    map: z.number().int().nonnegative(),
  }).strict(),
  z.object({
    encoding: z.literal('runs'),
    /** Comma-separated `owner x length` runs, e.g. "0x256,1x256". */
    runs: z.string().regex(/^(\d+x\d+)(,\d+x\d+)*$/, 'runs must be comma-separated <owner>x<length> pairs'),
  }).strict(),
  z.object({
    encoding: z.literal('base64-u16le'),
    data: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'data must be base64'),
  }).strict(),
]);

export type EncodedNeuronMap = z.infer<typeof encodedNeuronMapSchema>;

function sameOwners(a: Uint16Array, b: Uint16Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function toRuns(owner: Uint16Array): string {
  const out: string[] = [];
  let i = 0;
  while (i < owner.length) {
    let j = i + 1;
    while (j < owner.length && owner[j] === owner[i]) j++;
    out.push(`${owner[i]}x${j - i}`);
    i = j;
  }
  return out.join(',');
}

function toBase64(owner: Uint16Array): string {
  const bytes = Buffer.alloc(owner.length * 2);
  for (let i = 0; i < owner.length; i++) bytes.writeUInt16LE(owner[i], i * 2);
  return bytes.toString('base64');
}

/** Encodes the maps of a partition (index 0 = inputs), each as compactly as possible. */
export function encodeNeuronMaps(owners: readonly Uint16Array[]): EncodedNeuronMap[] {
  return owners.map((owner, l): EncodedNeuronMap => {
    for (let k = 0; k < l; k++) {
      if (owners[k] === owner || sameOwners(owners[k], owner)) return { encoding: 'same-as', map: k };
    }
    const runs = toRuns(owner);
    const base64Length = Math.ceil((owner.length * 2) / 3) * 4;
    return runs.length <= base64Length ? { encoding: 'runs', runs } : { encoding: 'base64-u16le', data: toBase64(owner) };
  });
}

/**
 * Decodes one map; `decoded` holds the maps before it. Returns an error message instead of
 * throwing, so the schema can report it at the right field.
 */
export function decodeNeuronMap(map: EncodedNeuronMap, neurons: number, decoded: readonly Uint16Array[]): Uint16Array | string {
  switch (map.encoding) {
    case 'same-as':
      if (map.map >= decoded.length) return `refers to map ${map.map}, which is not an earlier map`;
      return decoded[map.map];
    case 'runs': {
      const owner = new Uint16Array(neurons);
      let at = 0;
      for (const run of map.runs.split(',')) {
        const [o, n] = run.split('x').map(Number);
        if (o > 65535) return `owner ${o} does not fit 16 bits`;
        if (at + n > neurons) return `runs cover more than the ${neurons} neurons`;
        owner.fill(o, at, at + n);
        at += n;
      }
      if (at !== neurons) return `runs cover ${at} neurons, the model has ${neurons}`;
      return owner;
    }
    case 'base64-u16le': {
      const bytes = Buffer.from(map.data, 'base64');
      if (bytes.length !== neurons * 2) return `decodes to ${bytes.length} bytes, ${neurons * 2} expected (16-bit owners of ${neurons} neurons)`;
      const owner = new Uint16Array(neurons);
      for (let i = 0; i < neurons; i++) owner[i] = bytes.readUInt16LE(i * 2);
      return owner;
    }
  }
}
