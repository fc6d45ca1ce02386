// Native unit tests: `npm test` (node --test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init, apply, evict } from './policy.js';

test('a hit entry gets a second chance', () => {
  init(2n, []);
  apply(new Uint8Array([1, 1, 0, 1]), new BigUint64Array([1n, 2n, 1n, 3n]), new Uint32Array([1, 1, 0, 1]));
  // 1 was hit, so 2 (the oldest without a chance) made room for 3.
  assert.deepEqual([...evict(8, 0n)], [2n]);
});

test('bad parameters are refused by name', () => {
  assert.throws(() => init(2n, [['max_freq', '0']]), /max_freq/);
  assert.throws(() => init(2n, [['nope', '1']]), /nope/);
});
