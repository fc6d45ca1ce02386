"""{{name}}: a failover policy for goldylox, in Python.

It starts as a circuit breaker per tier: `errors` failures in a row open it
(bypass the tier); after `backoff_ms` it sends a probe; a good probe restores
the tier, a failed one doubles the backoff. Plain Python (`goldylox policy build` connects it
to the component world): `python3 -m unittest` tests it natively.
"""

from typing import Dict, List, Tuple

KEEP, BYPASS, PROBE, RESTORE = "keep", "bypass", "probe", "restore"
SUCCESS, ERROR, TIMEOUT, PROBE_OK, PROBE_FAILED = 0, 1, 2, 3, 4


class Tier:
    def __init__(self) -> None:
        self.failures = 0
        self.open = False
        self.probe_ok = False
        self.backoff_ms = 0
        self.retry_at = 0


class Policy:
    def __init__(self, params: Dict[str, str]) -> None:
        params = dict(params)
        try:
            self.errors = int(params.pop("errors", "5"))
            self.backoff_ms = int(params.pop("backoff_ms", "100"))
        except ValueError:
            raise ValueError("errors and backoff_ms must be integers") from None
        if self.errors < 1:
            raise ValueError("errors must be at least 1")
        if params:
            raise ValueError(f"unknown parameter {sorted(params)[0]!r}")
        self.tiers = [Tier(), Tier(), Tier()]

    def observe(self, tiers: bytes, kinds: bytes, at_ms: List[int]) -> None:
        for tier, kind, at in zip(tiers, kinds, at_ms):
            if tier >= len(self.tiers):
                continue
            t = self.tiers[tier]
            if kind == SUCCESS:
                t.failures = 0
            elif kind in (ERROR, TIMEOUT):
                t.failures += 1
                if not t.open and t.failures >= self.errors:
                    t.open, t.backoff_ms = True, self.backoff_ms
                    t.retry_at = at + t.backoff_ms
            elif kind == PROBE_OK:
                t.probe_ok = True
            elif kind == PROBE_FAILED:
                t.backoff_ms = min(t.backoff_ms * 2, 60_000)
                t.retry_at = at + t.backoff_ms

    def decide(self, tier: int, now_ms: int) -> Tuple[str, int]:
        if tier >= len(self.tiers) or not self.tiers[tier].open:
            return KEEP, 1000
        t = self.tiers[tier]
        if t.probe_ok:
            self.tiers[tier] = Tier()
            return RESTORE, 1000
        wait = max(t.retry_at - now_ms, 1)
        return (PROBE if now_ms >= t.retry_at else BYPASS), min(wait, 2**32 - 1)
