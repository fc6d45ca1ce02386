#!/usr/bin/env python3
"""Hit counts of libCacheSim's policies on the shared traces.

Writes host/tests/data/libcachesim.tsv, which the host's conformance test
compares against goldylox's policies exactly. Every object weighs 1, so
cache sizes are in entries. Also writes host/tests/data/libcachesim_bytes.tsv:
LRU and FIFO by bytes (objects weigh their sizes) on the oracleGeneral
trace, with request hits and hit bytes.

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
OUT_NEAR = os.path.join(HERE, "..", "host", "tests", "data", "libcachesim_near.tsv")
OUT_BYTES = os.path.join(HERE, "..", "host", "tests", "data", "libcachesim_bytes.tsv")
BYTE_TRACE = "libcachesim/cloudPhysicsIO.oracleGeneral.bin"
BYTE_POLICIES = {"lru": "LRU", "fifo": "FIFO"}
BYTE_SIZES = [16 << 20, 64 << 20, 256 << 20, 1 << 30]


def byte_rows():
    """LRU and FIFO with byte capacities; hits and hit bytes are recovered
    from the miss ratios (exact: they are integer counts over the totals)."""
    import struct
    path = os.path.join(TRACES, BYTE_TRACE)
    with open(path, "rb") as f:
        data = f.read()
    n = len(data) // 24
    total = sum(struct.unpack_from("<I", data, i * 24 + 12)[0] for i in range(n))
    rows = ["trace\tpath\tpolicy\tbytes\trequests\thits\thit_bytes"]
    for ours, theirs in BYTE_POLICIES.items():
        for size in BYTE_SIZES:
            reader = lcs.TraceReader(path, lcs.TraceType.ORACLE_GENERAL_TRACE)
            miss, byte_miss = getattr(lcs, theirs)(size).process_trace(reader)
            rows.append(f"cloudPhysicsIO\t{BYTE_TRACE}\t{ours}\t{size}\t{n}\t{round((1 - miss) * n)}\t{round((1 - byte_miss) * total)}")
            print(rows[-1], flush=True)
    return rows

# (name in the TSV, path under traces/, reader)
LIRS = ["gli", "cpp", "cs", "ps", "multi2", "2_pools"]
POLICIES = {"lru": "LRU", "fifo": "FIFO", "clock": "Clock", "sieve": "Sieve", "s3fifo": "S3FIFO", "arc": "ARC"}
SIZES = [100, 500, 1000, 2000]
# Compared within a margin: libCacheSim's defaults (W-TinyLFU: a 1 % window
# in front of an SLRU; LeCaR: learning rate and discount as published).
NEAR_POLICIES = {"wtinylfu": "WTinyLFU", "lecar": "LeCaR"}


def lirs_keys(path):
    with gzip.open(path, "rt") as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("*")]


def main():
    traces = [(name, f"caffeine/lirs/{name}.trace.gz", lirs_keys(os.path.join(TRACES, f"caffeine/lirs/{name}.trace.gz")))
              for name in LIRS]
    with open(os.path.join(TRACES, "libcachesim/cloudPhysicsIO.txt")) as f:
        traces.append(("cloudPhysicsIO", "libcachesim/cloudPhysicsIO.txt", [l.strip() for l in f if l.strip()]))
    header = "trace\tpath\tpolicy\tsize\trequests\thits"
    rows, near = [header], [header]
    with tempfile.TemporaryDirectory() as tmp:
        for name, rel, keys in traces:
            plain = os.path.join(tmp, name + ".txt")
            with open(plain, "w") as f:
                f.write("\n".join(keys) + "\n")
            for table, policies in ((rows, POLICIES), (near, NEAR_POLICIES)):
                for ours, theirs in policies.items():
                    for size in SIZES:
                        reader = lcs.TraceReader(plain, lcs.TraceType.PLAIN_TXT_TRACE)
                        miss_ratio, _ = getattr(lcs, theirs)(size).process_trace(reader)
                        hits = round((1.0 - miss_ratio) * len(keys))
                        table.append(f"{name}\t{rel}\t{ours}\t{size}\t{len(keys)}\t{hits}")
                        print(table[-1], flush=True)
    write(OUT, rows)
    write(OUT_NEAR, near)
    write(OUT_BYTES, byte_rows())


def write(path, rows):
    with open(path, "w") as f:
        f.write("# libCacheSim " + getattr(lcs, "__version__", "0.3.5") + " (PyPI libcachesim), written by scripts/libcachesim_oracle.py\n")
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
