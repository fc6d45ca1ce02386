#!/usr/bin/env python3
"""A self-verifying client for long runs against goldylox serve.

Every value embeds its key, a version and a CRC32 of them and of its random
payload, so any read can be checked on its own: a value that is not the key's (or is damaged) is a
wrong value. Each worker owns a slice of the keys and remembers the newest
version it wrote to each, so a read that returns an *older* version than
one acknowledged is wrong too (a miss is allowed: it is a cache). Values
range from 10 B to 1 MiB (log-uniform), so all three tiers and the memory
bound are exercised. Every few seconds it samples INFO: RSS, the configured
memory and the tiers' sizes.

    python3 scripts/soak.py --port 6380 --seconds 1800 [--workers 8]

Prints one line per sample and a summary; exits 1 on any wrong value.
"""

import argparse
import random
import sys
import threading
import time
import zlib

import redis

MIN_VALUE, MAX_VALUE = 10, 1 << 20


def make_value(rng: random.Random, key: str, version: int, size: int) -> bytes:
    """`key|version|crc|payload`: the payload is random (so it does not
    compress away and the warm and cold tiers really fill), and the CRC32
    covers key, version and payload, so any damaged byte is caught."""
    head = f"{key}|{version}|".encode()
    payload = rng.randbytes(max(0, size - len(head) - 9))
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + f"{crc:08x}|".encode() + payload


def check_value(key: str, value: bytes):
    """The version a value holds, or None if it is not a valid value of key."""
    parts = value.split(b"|", 3)
    if len(parts) < 4:
        return None
    k, version, crc, payload = parts
    head = k + b"|" + version + b"|"
    if k.decode(errors="replace") != key or f"{zlib.crc32(payload, zlib.crc32(head)):08x}".encode() != crc:
        return None
    return int(version)


class Worker(threading.Thread):
    def __init__(self, port, index, keys, stop, totals, lock):
        super().__init__(daemon=True)
        self.r = redis.Redis(port=port, socket_timeout=30)
        self.index, self.keys, self.stop = index, keys, stop
        self.totals, self.lock = totals, lock
        self.newest = {}
        self.rng = random.Random(index)

    def run(self):
        ops = reads = hits = writes = wrong = errors = 0
        while not self.stop.is_set():
            key = f"soak:{self.index}:{self.rng.randrange(self.keys)}"
            try:
                if self.rng.random() < 0.4:
                    version = self.newest.get(key, 0) + 1
                    size = int(MIN_VALUE * (MAX_VALUE / MIN_VALUE) ** self.rng.random())
                    self.r.set(key, make_value(self.rng, key, version, size))
                    self.newest[key] = version
                    writes += 1
                else:
                    value = self.r.get(key)
                    reads += 1
                    if value is not None:
                        hits += 1
                        version = check_value(key, value)
                        if version is None or version < self.newest.get(key, 0):
                            wrong += 1
                            print(f"WRONG {key}: {value[:60]!r} (newest {self.newest.get(key)})",
                                  file=sys.stderr)
            except redis.RedisError as e:
                errors += 1
                print(f"error: {e}", file=sys.stderr)
                time.sleep(0.1)
            ops += 1
        with self.lock:
            for name, n in (("ops", ops), ("reads", reads), ("hits", hits),
                            ("writes", writes), ("wrong", wrong), ("errors", errors)):
                self.totals[name] = self.totals.get(name, 0) + n


def info(r):
    text = r.info("everything")
    return {k: text.get(k, 0) for k in (
        "used_memory_rss", "used_memory", "maxmemory", "used_memory_hot",
        "used_memory_warm", "used_memory_cold_index", "cold_disk_bytes",
        "allocator_allocated", "allocator_resident")}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=6380)
    p.add_argument("--seconds", type=int, default=1800)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--keys", type=int, default=2000, help="keys per worker")
    p.add_argument("--every", type=int, default=10, help="seconds between samples")
    a = p.parse_args()
    stop, lock, totals = threading.Event(), threading.Lock(), {}
    workers = [Worker(a.port, i, a.keys, stop, totals, lock) for i in range(a.workers)]
    for w in workers:
        w.start()
    r = redis.Redis(port=a.port)
    began = time.time()
    rss = []
    print("seconds,rss_mib,used_memory_mib,maxmemory_mib,hot_mib,warm_mib,"
          "cold_index_mib,cold_disk_mib,allocated_mib,allocator_resident_mib")
    while time.time() - began < a.seconds:
        time.sleep(min(a.every, max(0, a.seconds - (time.time() - began))))
        s = info(r)
        rss.append(s["used_memory_rss"])
        mib = lambda n: f"{int(n) / 2**20:.1f}"
        print(f"{time.time() - began:.0f},{mib(s['used_memory_rss'])},{mib(s['used_memory'])},"
              f"{mib(s['maxmemory'])},{mib(s['used_memory_hot'])},{mib(s['used_memory_warm'])},"
              f"{mib(s['used_memory_cold_index'])},{mib(s['cold_disk_bytes'])},"
              f"{mib(s['allocator_allocated'])},{mib(s['allocator_resident'])}", flush=True)
    stop.set()
    for w in workers:
        w.join()
    s = info(r)
    limit = int(s["maxmemory"])
    peak = max(rss) if rss else 0
    half = rss[len(rss) // 2:] or [0]
    print(f"{totals.get('ops', 0)} operations ({totals.get('writes', 0)} writes, "
          f"{totals.get('reads', 0)} reads, {totals.get('hits', 0)} hits), "
          f"{totals.get('wrong', 0)} wrong values, {totals.get('errors', 0)} errors")
    print(f"RSS peak {peak / 2**20:.1f} MiB against {limit / 2**20:.1f} MiB configured "
          f"({peak / max(limit, 1):.2f}x); second half {min(half) / 2**20:.1f}-"
          f"{max(half) / 2**20:.1f} MiB")
    sys.exit(1 if totals.get("wrong", 0) or totals.get("errors", 0) else 0)


if __name__ == "__main__":
    main()
