// Native unit tests: `npm test` (node --test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init, observe, decide } from './policy.js';

test('errors in a row open the breaker and a good probe closes it', () => {
  init([['errors', '2']]);
  observe(new Uint8Array([2, 2]), new Uint8Array([1, 1]), new BigUint64Array([10n, 11n]));
  assert.equal(decide(2, 12n).action, 'bypass');
  assert.equal(decide(2, 200n).action, 'probe');
  observe(new Uint8Array([2]), new Uint8Array([3]), new BigUint64Array([201n]));
  assert.equal(decide(2, 202n).action, 'restore');
  assert.equal(decide(2, 203n).action, 'keep');
});
