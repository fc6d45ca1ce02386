"""{{name}}: an eviction policy for goldylox, in Python.

It starts as CLOCK (FIFO with second chances): a hit raises an entry's
counter up to `max_freq`; the oldest entry leaves unless its counter is set,
in which case the counter drops by one and the entry goes back to the head.
This module is plain Python (`goldylox policy build` connects it to the component world), so
`python3 -m unittest` tests it natively. Change it into your own algorithm.
"""

from collections import OrderedDict
from typing import Dict, List

HIT, INSERT, UPDATE, REMOVE = 0, 1, 2, 3


class Policy:
    """The contract is wit/policy.wit's `eviction-policy` world."""

    def __init__(self, capacity: int, params: Dict[str, str]) -> None:
        params = dict(params)
        try:
            self.max_freq = int(params.pop("max_freq", "1"))
        except ValueError:
            raise ValueError("max_freq must be an integer") from None
        if self.max_freq < 1:
            raise ValueError("max_freq must be at least 1")
        if params:
            raise ValueError(f"unknown parameter {sorted(params)[0]!r} (this policy takes max_freq)")
        self.capacity = capacity
        self.used = 0
        # hash -> [weight, freq]; the first entry is the oldest.
        self.queue: "OrderedDict[int, List[int]]" = OrderedDict()
        # Victims chosen while applying inserts, for the next evict: hash -> weight.
        self.pending: "OrderedDict[int, int]" = OrderedDict()

    def apply(self, kinds: bytes, hashes: List[int], weights: List[int]) -> None:
        for kind, h, w in zip(kinds, hashes, weights):
            entry = self.queue.get(h)
            if kind == HIT:
                if entry is not None and entry[1] < self.max_freq:
                    entry[1] += 1
            elif kind == INSERT or kind == UPDATE:
                self.pending.pop(h, None)  # written again: taken back
                if entry is not None:
                    self.used += w - entry[0]
                    entry[0] = w
                    entry[1] = min(entry[1] + 1, self.max_freq)
                    self._make_room(0)
                elif w > self.capacity:
                    self.pending[h] = w  # heavier than the whole tier
                else:
                    self._make_room(w)
                    self.queue[h] = [w, 0]
                    self.used += w
            elif kind == REMOVE:
                self.pending.pop(h, None)
                if entry is not None:
                    del self.queue[h]
                    self.used -= entry[0]
            # unknown kinds are skipped

    def evict(self, max: int, need: int) -> List[int]:
        out: List[int] = []
        freed = 0
        while self.pending and len(out) < max:
            h, w = self.pending.popitem(last=False)
            out.append(h)
            freed += w
        while freed < need and len(out) < max:
            victim = self._evict_one()
            if victim is None:
                break
            out.append(victim[0])
            freed += victim[1]
        return out

    def admit(self, candidate: int, victim: int) -> bool:
        return True

    def _evict_one(self):
        while self.queue:
            h, entry = self.queue.popitem(last=False)
            if entry[1] > 0:  # second chance
                entry[1] -= 1
                self.queue[h] = entry
                continue
            self.used -= entry[0]
            return h, entry[0]
        return None

    def _make_room(self, incoming: int) -> None:
        while self.used + incoming > self.capacity:
            victim = self._evict_one()
            if victim is None:
                break
            self.pending[victim[0]] = victim[1]
