// {{name}}: a failover policy for goldylox, in JavaScript.
//
// It starts as a circuit breaker per tier: `errors` failures in a row open
// it (bypass the tier); after `backoff_ms` it sends a probe; a good probe
// restores the tier, a failed one doubles the backoff. The exports are the
// `failover-policy` world of wit/policy.wit: times are BigInts, an action is
// one of 'keep', 'bypass', 'probe', 'restore'. `npm test` runs it in Node.

const SUCCESS = 0, ERROR = 1, TIMEOUT = 2, PROBE_OK = 3, PROBE_FAILED = 4;

let errors = 5;
let backoffMs = 100n;
let tiers = [];

const fresh = () => ({ failures: 0, open: false, probeOk: false, backoff: 0n, retryAt: 0n });

export function init(params) {
  errors = 5;
  backoffMs = 100n;
  for (const [key, value] of params) {
    if (key === 'errors') {
      errors = Number(value);
      if (!Number.isInteger(errors) || errors < 1) throw 'errors must be an integer >= 1';
    } else if (key === 'backoff_ms') {
      if (!/^[0-9]+$/.test(value)) throw 'backoff_ms must be an integer';
      backoffMs = BigInt(value);
    } else {
      throw `unknown parameter ${key} (this policy takes errors and backoff_ms)`;
    }
  }
  tiers = [fresh(), fresh(), fresh()];
}

export function observe(tierOf, kinds, atMs) {
  const n = Math.min(tierOf.length, kinds.length, atMs.length);
  for (let i = 0; i < n; i++) {
    const t = tiers[tierOf[i]];
    if (!t) continue;
    switch (kinds[i]) {
      case SUCCESS: t.failures = 0; break;
      case ERROR:
      case TIMEOUT:
        t.failures += 1;
        if (!t.open && t.failures >= errors) {
          t.open = true;
          t.backoff = backoffMs;
          t.retryAt = atMs[i] + backoffMs;
        }
        break;
      case PROBE_OK: t.probeOk = true; break;
      case PROBE_FAILED:
        t.backoff = t.backoff * 2n > 60000n ? 60000n : t.backoff * 2n;
        t.retryAt = atMs[i] + t.backoff;
        break;
      default:
    }
  }
}

export function decide(tier, nowMs) {
  const t = tiers[tier];
  if (!t || !t.open) return { action: 'keep', retryAfterMs: 1000 };
  if (t.probeOk) {
    tiers[tier] = fresh();
    return { action: 'restore', retryAfterMs: 1000 };
  }
  const wait = t.retryAt > nowMs ? Number(t.retryAt - nowMs) : 1;
  return { action: nowMs >= t.retryAt ? 'probe' : 'bypass', retryAfterMs: Math.min(wait, 4294967295) };
}
