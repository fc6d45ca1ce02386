#!/usr/bin/env python3
"""Hit counts of libCacheSim's policies on the shared traces.

Writes host/tests/data/libcachesim.tsv, which the host's conformance test
compares against goldylox's policies exactly. Every object weighs 1, so
cache sizes are in entries.

    pip install libcachesim==0.3.5
    python3 scripts/libcachesim_oracle.py [../shared/traces]
"""
import gzip
import os
import sys
import tempfile

import libcachesim as lcs

HERE = os.path.dirname(os.path.abspath(__file__))
TRACES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "traces")
OUT = os.path.join(HERE, "..", "host", "tests", "data", "libcachesim.tsv")

# (name in the TSV, path under traces/, reader)
LIRS = ["gli", "cpp", "cs", "ps", "multi2", "2_pools"]
POLICIES = {"lru": "LRU", "fifo": "FIFO", "clock": "Clock", "sieve": "Sieve", "s3fifo": "S3FIFO", "arc": "ARC"}
SIZES = [100, 500, 1000, 2000]


def lirs_keys(path):
    with gzip.open(path, "rt") as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("*")]


def main():
    traces = [(name, f"caffeine/lirs/{name}.trace.gz", lirs_keys(os.path.join(TRACES, f"caffeine/lirs/{name}.trace.gz")))
              for name in LIRS]
    with open(os.path.join(TRACES, "libcachesim/cloudPhysicsIO.txt")) as f:
        traces.append(("cloudPhysicsIO", "libcachesim/cloudPhysicsIO.txt", [l.strip() for l in f if l.strip()]))
    rows = ["trace\tpath\tpolicy\tsize\trequests\thits"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, rel, keys in traces:
            plain = os.path.join(tmp, name + ".txt")
            with open(plain, "w") as f:
                f.write("\n".join(keys) + "\n")
            for ours, theirs in POLICIES.items():
                for size in SIZES:
                    reader = lcs.TraceReader(plain, lcs.TraceType.PLAIN_TXT_TRACE)
                    miss_ratio, _ = getattr(lcs, theirs)(size).process_trace(reader)
                    hits = round((1.0 - miss_ratio) * len(keys))
                    rows.append(f"{name}\t{rel}\t{ours}\t{size}\t{len(keys)}\t{hits}")
                    print(rows[-1], flush=True)
    with open(OUT, "w") as f:
        f.write("# libCacheSim " + getattr(lcs, "__version__", "0.3.5") + " (PyPI libcachesim), written by scripts/libcachesim_oracle.py\n")
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
