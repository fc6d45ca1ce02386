// GDSF — greedy-dual size frequency (Cherkasova, 1998) with unit cost — in
// JavaScript.
//
// Every resident entry has a priority K = L + F / S: F counts its accesses
// (1 on insert, +1 per hit or update), S is its weight (bytes in the cache),
// and L, the cache's age, is the priority of the last entry evicted. The
// lowest priority leaves; among equal priorities, the one whose priority was
// set first. Small, frequently used objects stay: with byte capacities that
// raises the request hit ratio.
//
// It decides exactly like its Rust twin (policies/gdsf, `builtin:gdsf`):
// the host's tests replay both and compare. Priorities are doubles computed
// in the same order as in Rust. Build: `goldylox policy build`.

const HIT = 0, INSERT = 1, UPDATE = 2, REMOVE = 3;
// Heap entries beyond twice the resident count (plus this slack) trigger a
// rebuild of the heap from the live entries.
const HEAP_SLACK = 1024;

let capacity = 0n;
let used = 0n;
let age = 0;
let seq = 0;
// hash -> { priority, seq, freq, weight }
let entries = new Map();
// A binary min-heap of { priority, seq, hash }; stale ones are skipped.
let heap = [];
// Victims chosen while applying inserts, for the next evict: hash -> weight.
let pending = new Map();

const before = (a, b) => a.priority < b.priority || (a.priority === b.priority && a.seq < b.seq);

function heapPush(item) {
  heap.push(item);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(heap[i], heap[parent])) break;
    [heap[i], heap[parent]] = [heap[parent], heap[i]];
    i = parent;
  }
}

function siftDown(i) {
  for (;;) {
    const l = 2 * i + 1, r = l + 1;
    let m = i;
    if (l < heap.length && before(heap[l], heap[m])) m = l;
    if (r < heap.length && before(heap[r], heap[m])) m = r;
    if (m === i) return;
    [heap[i], heap[m]] = [heap[m], heap[i]];
    i = m;
  }
}

function heapPop() {
  const top = heap[0];
  const last = heap.pop();
  if (heap.length > 0) {
    heap[0] = last;
    siftDown(0);
  }
  return top;
}

export function init(cap, params) {
  if (params.length > 0) throw `unknown parameter ${params[0][0]} (this policy takes none)`;
  capacity = cap;
  used = 0n;
  age = 0;
  seq = 0;
  entries = new Map();
  heap = [];
  pending = new Map();
}

function enqueue(hash, freq, weight) {
  seq += 1;
  const priority = age + freq / Math.max(weight, 1);
  entries.set(hash, { priority, seq, freq, weight });
  heapPush({ priority, seq, hash });
  if (heap.length > 2 * entries.size + HEAP_SLACK) {
    heap = [];
    for (const [h, e] of entries) heap.push({ priority: e.priority, seq: e.seq, hash: h });
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(i);
  }
}

function evictOne() {
  while (heap.length > 0) {
    const { priority, seq: s, hash } = heapPop();
    const e = entries.get(hash);
    if (e === undefined || e.seq !== s) continue;
    entries.delete(hash);
    used -= BigInt(e.weight);
    age = priority;
    return [hash, e.weight];
  }
  return null;
}

function queue(hash, weight) {
  pending.delete(hash);
  pending.set(hash, weight);
}

function fit(incoming) {
  while (used + incoming > capacity) {
    const victim = evictOne();
    if (victim === null) break;
    queue(victim[0], victim[1]);
  }
}

export function apply(kinds, hashes, weights) {
  const n = Math.min(kinds.length, hashes.length, weights.length);
  for (let i = 0; i < n; i++) {
    const hash = hashes[i], w = weights[i];
    const e = entries.get(hash);
    switch (kinds[i]) {
      case HIT:
        if (e !== undefined) enqueue(hash, e.freq + 1, e.weight);
        break;
      case INSERT:
      case UPDATE:
        pending.delete(hash); // written again: taken back
        if (e !== undefined) {
          used += BigInt(w) - BigInt(e.weight);
          enqueue(hash, e.freq + 1, w);
          fit(0n);
        } else if (BigInt(w) > capacity) {
          queue(hash, w);
        } else {
          fit(BigInt(w));
          used += BigInt(w);
          enqueue(hash, 1, w);
        }
        break;
      case REMOVE:
        pending.delete(hash);
        if (e !== undefined) {
          entries.delete(hash);
          used -= BigInt(e.weight);
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
    freed += BigInt(weight);
  }
  for (const hash of out) pending.delete(hash);
  while (out.length < max && freed < need) {
    const victim = evictOne();
    if (victim === null) break;
    out.push(victim[0]);
    freed += BigInt(victim[1]);
  }
  return new BigUint64Array(out);
}

export function admit(candidate, victim) {
  return true;
}
