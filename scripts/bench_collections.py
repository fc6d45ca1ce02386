#!/usr/bin/env python3
"""The collections of issue #27 against redis-server, same run:
redis-benchmark's lpush, lpop, sadd, spop, zadd, zpopmin, hset and
lrange_100 tests, then a 1,000,000-member sorted set and a 1,000,000-field
hash built by pipelined ZADD/HSET (one member each): writes per second and
the allocator's bytes per member. Rounds alternate the two servers (this
machine is noisy); medians print.

    python3 scripts/bench_collections.py [--goldylox BIN] [--rounds N]
"""
import argparse, re, socket, statistics, time

from bench_connection import cli, resp, rps, start_servers

TESTS = "lpush,lpop,sadd,spop,zadd,zpopmin,hset,lrange_100"
MEMBERS = 1_000_000
BATCH = 10_000


def allocated(port):
    info = cli(port, "INFO", "memory")
    return int(re.search(r"^allocator_allocated:(\d+)", info, re.M).group(1))


def fill(port, command):
    """Sends MEMBERS one-member writes, BATCH at a time, waiting for each
    batch's replies: (writes per second, allocator bytes per member)."""
    cli(port, "DEL", "big")
    before = allocated(port)
    s = socket.create_connection(("127.0.0.1", port))
    start = time.perf_counter()
    for base in range(0, MEMBERS, BATCH):
        if command == "ZADD":
            batch = b"".join(resp("ZADD", "big", i, f"member:{i}") for i in range(base, base + BATCH))
        else:
            batch = b"".join(resp("HSET", "big", f"field:{i}", f"value:{i}") for i in range(base, base + BATCH))
        s.sendall(batch)
        got = 0
        while got < BATCH:
            got += s.recv(1 << 20).count(b"\n")
    elapsed = time.perf_counter() - start
    s.close()
    time.sleep(0.5)
    per_member = (allocated(port) - before) / MEMBERS
    size = cli(port, "ZCARD" if command == "ZADD" else "HLEN", "big")
    assert int(size) == MEMBERS, f"{command}: {size} members"
    cli(port, "DEL", "big")
    return MEMBERS / elapsed, per_member


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--goldylox", default="target/release/goldylox")
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    g, gport, r, rport = start_servers(a.goldylox)
    names = TESTS.split(",")
    try:
        results = {}
        for rnd in range(a.rounds):
            order = [("goldylox", gport), ("redis-server", rport)]
            if rnd % 2:
                order.reverse()
            for name, port in order:
                cli(port, "FLUSHALL")
                got = rps(port, "-t", TESTS, "-n", "200000", "-P", "16")
                for test, value in zip(names, got):
                    results.setdefault(f"{test} -P 16, ops/s", {}).setdefault(name, []).append(value)
                for command in ("ZADD", "HSET"):
                    ops, per = fill(port, command)
                    results.setdefault(f"1M-member {command}, writes/s", {}).setdefault(name, []).append(ops)
                    results.setdefault(f"1M-member {command}, bytes/member", {}).setdefault(name, []).append(per)
        print("| figure | goldylox | redis-server | ratio |\n|---|---|---|---|")
        for metric, by in results.items():
            gv, rv = statistics.median(by["goldylox"]), statistics.median(by["redis-server"])
            print(f"| {metric} | {gv:,.0f} | {rv:,.0f} | {gv / rv:.2f}x |")
    finally:
        g.terminate()
        r.terminate()
        g.wait()
        r.wait()


if __name__ == "__main__":
    main()
