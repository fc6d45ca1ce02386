"""{{name}}: a prefetch policy for goldylox, in Python.

It starts as a first-order successor predictor: it remembers, for each
requested hash, the hash requested right after it, and after a miss proposes
the successor of the hash that missed. Plain Python (`goldylox policy build` connects it to
the component world): `python3 -m unittest` tests it natively.
"""

from typing import Dict, List, Optional


class Policy:
    def __init__(self, capacity: int, params: Dict[str, str]) -> None:
        if params:
            raise ValueError(f"unknown parameter {sorted(params)[0]!r} (this policy takes none)")
        self.capacity = max(capacity, 1)
        self.next: Dict[int, int] = {}
        self.last: Optional[int] = None
        self.wanted: List[int] = []

    def observe(self, hashes: List[int], hits: bytes) -> None:
        for h, hit in zip(hashes, hits):
            if self.last is not None and (len(self.next) < self.capacity or self.last in self.next):
                self.next[self.last] = h
            self.last = h
            if not hit and h in self.next:
                self.wanted.append(self.next[h])

    def propose(self, max: int) -> List[int]:
        out = self.wanted[:max]
        self.wanted = []
        return out
