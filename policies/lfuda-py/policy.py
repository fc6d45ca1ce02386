"""LFU with dynamic aging (Arlitt et al., 2000), in Python.

Every resident entry has a priority K = L + F: F counts its accesses (1 on
insert, +1 per hit or update) and L, the cache's age, is the priority of the
last entry evicted. The lowest priority leaves; among equal priorities, the
one whose priority was set first. Ageing lets once-popular entries go.

It decides exactly like its Rust twin (policies/gdsf, `builtin:lfuda`): the
host's tests replay both and compare. Build: `goldylox policy build`.
"""

import heapq
from collections import OrderedDict
from typing import Dict, List, Tuple

HIT, INSERT, UPDATE, REMOVE = 0, 1, 2, 3

# Heap entries beyond twice the resident count (plus this slack) trigger a
# rebuild of the heap from the live entries.
HEAP_SLACK = 1024


class Policy:
    def __init__(self, capacity: int, params: Dict[str, str]) -> None:
        if params:
            raise ValueError(f"unknown parameter {sorted(params)[0]!r} (this policy takes none)")
        self.capacity = capacity
        self.used = 0
        self.age = 0.0
        self.seq = 0
        # hash -> [priority, seq, freq, weight]
        self.entries: Dict[int, List] = {}
        # (priority, seq, hash), lowest first; stale ones are skipped.
        self.heap: List[Tuple[float, int, int]] = []
        # Victims chosen while applying inserts, for the next evict.
        self.pending: "OrderedDict[int, int]" = OrderedDict()

    def _enqueue(self, h: int, freq: int, weight: int) -> None:
        self.seq += 1
        priority = self.age + float(freq)
        self.entries[h] = [priority, self.seq, freq, weight]
        heapq.heappush(self.heap, (priority, self.seq, h))
        if len(self.heap) > 2 * len(self.entries) + HEAP_SLACK:
            self.heap = [(e[0], e[1], k) for k, e in self.entries.items()]
            heapq.heapify(self.heap)

    def _evict_one(self):
        while self.heap:
            priority, seq, h = heapq.heappop(self.heap)
            e = self.entries.get(h)
            if e is None or e[1] != seq:
                continue
            del self.entries[h]
            self.used -= e[3]
            self.age = priority
            return h, e[3]
        return None

    def _fit(self, incoming: int) -> None:
        while self.used + incoming > self.capacity:
            victim = self._evict_one()
            if victim is None:
                break
            self._queue(*victim)

    def _queue(self, h: int, weight: int) -> None:
        self.pending.pop(h, None)
        self.pending[h] = weight

    def apply(self, kinds: bytes, hashes: List[int], weights: List[int]) -> None:
        for kind, h, w in zip(kinds, hashes, weights):
            e = self.entries.get(h)
            if kind == HIT:
                if e is not None:
                    self._enqueue(h, e[2] + 1, e[3])
            elif kind == INSERT or kind == UPDATE:
                self.pending.pop(h, None)  # written again: taken back
                if e is not None:
                    self.used += w - e[3]
                    self._enqueue(h, e[2] + 1, w)
                    self._fit(0)
                elif w > self.capacity:
                    self._queue(h, w)
                else:
                    self._fit(w)
                    self.used += w
                    self._enqueue(h, 1, w)
            elif kind == REMOVE:
                self.pending.pop(h, None)
                if e is not None:
                    del self.entries[h]
                    self.used -= e[3]

    def evict(self, max: int, need: int) -> List[int]:
        out: List[int] = []
        freed = 0
        while self.pending and len(out) < max:
            h, w = self.pending.popitem(last=False)
            out.append(h)
            freed += w
        while len(out) < max and freed < need:
            victim = self._evict_one()
            if victim is None:
                break
            out.append(victim[0])
            freed += victim[1]
        return out

    def admit(self, candidate: int, victim: int) -> bool:
        return True
