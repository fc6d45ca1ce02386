// Native unit tests: `npm test` (node --test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init, observe, propose } from './policy.js';

test('a miss proposes what followed it last time', () => {
  init(100n, []);
  observe(new BigUint64Array([1n, 2n, 3n, 1n]), new Uint8Array([1, 1, 1, 0]));
  assert.deepEqual([...propose(8)], [2n]);
  assert.deepEqual([...propose(8)], []);
});
