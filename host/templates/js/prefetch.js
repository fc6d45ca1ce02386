// {{name}}: a prefetch policy for goldylox, in JavaScript.
//
// It starts as a first-order successor predictor: it remembers, for each
// requested hash, the hash requested right after it, and after a miss
// proposes the successor of the hash that missed. The exports are the
// `prefetch-policy` world of wit/policy.wit (u64s are BigInts). `npm test`
// runs it in Node.

let capacity = 1;
let next = new Map();
let last = null;
let wanted = [];

export function init(cap, params) {
  if (params.length > 0) throw `unknown parameter ${params[0][0]} (this policy takes none)`;
  capacity = Math.max(Number(cap), 1);
  next = new Map();
  last = null;
  wanted = [];
}

export function observe(hashes, hits) {
  const n = Math.min(hashes.length, hits.length);
  for (let i = 0; i < n; i++) {
    const hash = hashes[i];
    if (last !== null && (next.size < capacity || next.has(last))) next.set(last, hash);
    last = hash;
    if (hits[i] === 0 && next.has(hash)) wanted.push(next.get(hash));
  }
}

export function propose(max) {
  const out = wanted.slice(0, max);
  wanted = [];
  return new BigUint64Array(out);
}
