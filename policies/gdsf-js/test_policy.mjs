// Native unit tests: `npm test` (node --test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init, apply, evict } from './policy.js';

test('gdsf prefers to keep small objects', () => {
  init(100n, []);
  apply(new Uint8Array([1, 1, 1]), new BigUint64Array([1n, 2n, 3n]), new Uint32Array([60, 10, 40]));
  // 1 (60 bytes, priority 1/60) leaves before 2 (1/10).
  assert.deepEqual([...evict(8, 0n)], [1n]);
});

test('parameters are refused', () => {
  assert.throws(() => init(1n, [['x', '1']]), /x/);
});
