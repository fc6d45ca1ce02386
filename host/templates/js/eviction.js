// {{name}}: an eviction policy for goldylox, in JavaScript.
//
// It starts as CLOCK (FIFO with second chances): a hit raises an entry's
// counter up to `max_freq`; the oldest entry leaves unless its counter is
// set, in which case the counter drops by one and the entry goes back to the
// head. The exports are the `eviction-policy` world of wit/policy.wit: u64s
// are BigInts, list<u8>/list<u64>/list<u32> are typed arrays, and an error
// thrown by `init` is the message the host shows. `npm test` runs it in
// Node. Change it into your own algorithm.

const HIT = 0, INSERT = 1, UPDATE = 2, REMOVE = 3;

let capacity = 0n;
let used = 0n;
let maxFreq = 1;
// hash -> entry { hash, weight, freq, live }.
let entries = new Map();
// The FIFO: entries oldest first from `head`; a removed entry stays as a
// dead slot until it reaches the head.
let ring = [];
let head = 0;
// Victims chosen while applying inserts, for the next evict: hash -> weight.
let pending = new Map();

export function init(cap, params) {
  let freq = 1;
  for (const [key, value] of params) {
    if (key === 'max_freq') {
      freq = Number(value);
      if (!Number.isInteger(freq) || freq < 1) throw 'max_freq must be an integer >= 1';
    } else {
      throw `unknown parameter ${key} (this policy takes max_freq)`;
    }
  }
  capacity = cap;
  used = 0n;
  maxFreq = freq;
  entries = new Map();
  ring = [];
  head = 0;
  pending = new Map();
}

function popOldest() {
  if (head >= ring.length) return null;
  const entry = ring[head];
  ring[head++] = undefined;
  if (head > 1024 && head * 2 > ring.length) { // drop the consumed prefix
    ring = ring.slice(head);
    head = 0;
  }
  return entry;
}

function evictOne() {
  for (;;) {
    const entry = popOldest();
    if (entry === null) return null;
    if (!entry.live) continue;
    if (entry.freq > 0) { // second chance
      entry.freq -= 1;
      ring.push(entry);
      continue;
    }
    entry.live = false;
    entries.delete(entry.hash);
    used -= entry.weight;
    return entry;
  }
}

function makeRoom(incoming) {
  while (used + incoming > capacity) {
    const victim = evictOne();
    if (victim === null) break;
    pending.set(victim.hash, victim.weight);
  }
}

export function apply(kinds, hashes, weights) {
  const n = Math.min(kinds.length, hashes.length, weights.length);
  for (let i = 0; i < n; i++) {
    const hash = hashes[i];
    const weight = BigInt(weights[i]);
    const entry = entries.get(hash);
    switch (kinds[i]) {
      case HIT:
        if (entry && entry.freq < maxFreq) entry.freq += 1;
        break;
      case INSERT:
      case UPDATE:
        pending.delete(hash); // written again: taken back
        if (entry) {
          used += weight - entry.weight;
          entry.weight = weight;
          entry.freq = Math.min(entry.freq + 1, maxFreq);
          makeRoom(0n);
        } else if (weight > capacity) {
          pending.set(hash, weight); // heavier than the whole tier
        } else {
          makeRoom(weight);
          const fresh = { hash, weight, freq: 0, live: true };
          entries.set(hash, fresh);
          ring.push(fresh);
          used += weight;
        }
        break;
      case REMOVE:
        pending.delete(hash);
        if (entry) {
          entry.live = false;
          entries.delete(hash);
          used -= entry.weight;
        }
        break;
      default: // unknown kinds are skipped
    }
  }
}

export function evict(max, need) {
  const out = [];
  let freed = 0n;
  for (const [hash, weight] of pending) {
    if (out.length >= max) break;
    out.push(hash);
    freed += weight;
  }
  for (const hash of out) pending.delete(hash);
  while (freed < need && out.length < max) {
    const victim = evictOne();
    if (victim === null) break;
    out.push(victim.hash);
    freed += victim.weight;
  }
  return new BigUint64Array(out);
}

export function admit(candidate, victim) {
  return true;
}
