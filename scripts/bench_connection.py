#!/usr/bin/env python3
"""The connection features of issue #26 against redis-server, same run:
SET/GET and EVALSHA of a one-call script through redis-benchmark, pub/sub
fan-out to 50 subscribers, and the memory 10,000 tracked keys cost.
Rounds alternate the two servers (this machine is noisy); medians print.

    python3 scripts/bench_connection.py [--goldylox BIN] [--rounds N]
"""
import argparse, os, re, socket, statistics, subprocess, sys, tempfile, time

def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing answers on {port}")

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True).stdout.strip()

def rps(port, *args):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-q", *args], capture_output=True, text=True).stdout
    return [float(x) for x in re.findall(r"([0-9.]+) requests per second", out)]

def resp(*args):
    out = f"*{len(args)}\r\n"
    for a in args:
        a = str(a)
        out += f"${len(a.encode())}\r\n{a}\r\n"
    return out.encode()

def fanout(port, subscribers=50, messages=20000, payload=64):
    subs = []
    for _ in range(subscribers):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(resp("SUBSCRIBE", "bench"))
        s.recv(1024)
        subs.append(s)
    frame = len(resp("message", "bench", "x" * payload))
    pub = socket.create_connection(("127.0.0.1", port))
    batch = resp("PUBLISH", "bench", "x" * payload) * 100
    import selectors
    sel = selectors.DefaultSelector()
    for s in subs:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    got = {id(s): 0 for s in subs}
    want = messages * frame
    start = time.perf_counter()
    sent = 0
    while sent < messages or min(got.values()) < want:
        if sent < messages:
            pub.sendall(batch)
            sent += 100
            # Keep the publisher's replies from piling up.
            pub.recv(1 << 16)
        for key, _ in sel.select(timeout=0.001):
            try:
                got[id(key.fileobj)] += len(key.fileobj.recv(1 << 20))
            except BlockingIOError:
                pass
    elapsed = time.perf_counter() - start
    for s in subs + [pub]:
        s.close()
    return messages * subscribers / elapsed

def memory(port, keys=10000):
    # What the allocator holds: the tracking table lives outside the tiers'
    # accounting (used_memory), so both servers are read the same way.
    field = "allocator_allocated"
    def used():
        info = cli(port, "INFO", "memory")
        return int(re.search(rf"^{field}:(\d+)", info, re.M).group(1))
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(resp("HELLO", "3")); time.sleep(0.05); s.recv(1 << 16)
    for i in range(0, keys, 1000):
        s.sendall(b"".join(resp("SET", f"tracked:{j}", "v") for j in range(i, i + 1000)))
        time.sleep(0.01)
    while True:
        s.settimeout(0.3)
        try:
            if not s.recv(1 << 20): break
        except socket.timeout:
            break
    before = used()
    s.sendall(resp("CLIENT", "TRACKING", "ON"))
    for i in range(0, keys, 1000):
        s.sendall(b"".join(resp("GET", f"tracked:{j}") for j in range(i, i + 1000)))
    time.sleep(0.5)
    try:
        while s.recv(1 << 20): pass
    except socket.timeout:
        pass
    after = used()
    s.close()
    return after - before

def start_servers(goldylox):
    """goldylox serve (embedded default, a fresh data directory) and
    redis-server without persistence, on free ports, both answering:
    (goldylox process, its port, redis process, its port)."""
    work = tempfile.mkdtemp()
    gport, rport = free_port(), free_port()
    g = subprocess.Popen([goldylox, "serve", "--port", str(gport), "--dir", f"{work}/data"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = subprocess.Popen(["redis-server", "--port", str(rport), "--save", "", "--appendonly", "no"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(gport); wait_port(rport)
    except BaseException:
        g.terminate(); r.terminate(); raise
    return g, gport, r, rport

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--goldylox", default="target/release/goldylox")
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    g, gport, r, rport = start_servers(a.goldylox)
    try:
        body = "return redis.call('GET', KEYS[1])"
        results = {}
        for rnd in range(a.rounds):
            order = [("goldylox", gport), ("redis-server", rport)]
            if rnd % 2: order.reverse()
            for name, port in order:
                sha = cli(port, "SCRIPT", "LOAD", body)
                cli(port, "SET", "key:1", "v")
                setget = rps(port, "-t", "set,get", "-n", "200000", "-P", "16", "-d", "100")
                evalsha = rps(port, "-n", "200000", "-P", "16", "EVALSHA", sha, "1", "key:1")
                fan = fanout(port)
                for metric, value in [("SET -P 16", setget[0]), ("GET -P 16", setget[1]),
                                      ("EVALSHA -P 16", evalsha[0]), ("fan-out to 50 subscribers, msg/s", fan)]:
                    results.setdefault(metric, {}).setdefault(name, []).append(value)
        for name, port in [("goldylox", gport), ("redis-server", rport)]:
            results.setdefault("10,000 tracked keys, bytes", {})[name] = [memory(port)]
        print(f"| figure | goldylox | redis-server | ratio |\n|---|---|---|---|")
        for metric, by in results.items():
            gv, rv = statistics.median(by["goldylox"]), statistics.median(by["redis-server"])
            print(f"| {metric} | {gv:,.0f} | {rv:,.0f} | {gv / rv:.2f}x |")
    finally:
        g.terminate(); r.terminate(); g.wait(); r.wait()

if __name__ == "__main__":
    main()
