"""`goldylox serve` with policy = "auto" while the workload changes character.

Starts the release binary on a scratch configuration (hot tier only, 4 MB,
auto racing every built-in policy), then drives it over RESP from several
client threads: a loop over more keys than fit (where MRU-like retention
wins: ARC, S3-FIFO, LeCaR), then a skewed hot set with one-off keys (where
recency and frequency win). Between phases it prints GOLDYLOX POLICY STATUS.
Counts every reply that is an error or a wrong value: the figure is 0.

    python3 scripts/auto_serve.py [path/to/goldylox]
No dependencies beyond Python's standard library (RESP is spoken directly).
"""
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/goldylox"
PORT = 6399
THREADS = 4
PIPELINE = 64


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", PORT))
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.s.recv(1 << 16)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(1 << 16)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        if kind == b"-":
            return RuntimeError(rest.decode())
        return rest

    def call(self, *args):
        self.s.sendall(encode(*args))
        return self.reply()


errors = 0
ops = 0
lock = threading.Lock()


def run(keys):
    """GET each key; SET it (value = key) on a miss; check every value."""
    global errors, ops
    c = Conn()
    bad = done = 0
    for i in range(0, len(keys), PIPELINE):
        chunk = keys[i:i + PIPELINE]
        c.s.sendall(b"".join(encode("GET", k) for k in chunk))
        replies = [c.reply() for _ in chunk]
        sets = [k for k, r in zip(chunk, replies) if r is None]
        for k, r in zip(chunk, replies):
            if isinstance(r, Exception) or (r is not None and r != k.encode()):
                bad += 1
        if sets:
            c.s.sendall(b"".join(encode("SET", k, k) for k in sets))
            for _ in sets:
                if c.reply() != b"OK":
                    bad += 1
        done += len(chunk) + len(sets)
    with lock:
        errors += bad
        ops += done


def phase(name, make):
    start = time.time()
    threads = [threading.Thread(target=run, args=(make(t),)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.time() - start
    time.sleep(0.5)
    status = Conn().call("GOLDYLOX", "POLICY", "STATUS")
    print(f"\n== after {name} ({took:.1f} s)")
    for line in status:
        print("  " + line.decode())


def looping(t):
    # 30 000 keys of ~90 weighed bytes against a 2 MB tier: a loop that
    # does not fit. The threads sweep it a quarter apart, so a key comes
    # back after about 30 000 requests whichever thread asks.
    start = t * 30000 // THREADS
    return [f"loop:{i % 30000:08d}" for i in range(start, start + 30000 * 12)]


def skewed(t):
    rng = random.Random(t)
    out = []
    for i in range(400000):
        if rng.random() < 0.25:
            out.append(f"once:{t}:{i}")
        else:
            out.append(f"hot:{int(3000 * rng.random() ** 2):06d}")
    return out


def main():
    cfg = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    cfg.write(f"""
[server]
listen = "127.0.0.1:{PORT}"
maxclients = 100
max_bulk_bytes = 1048576
max_args = 1024
max_inline_bytes = 65536
max_query_buffer_bytes = 67108864
output_buffer_bytes = 1048576
output_stall_ms = 10000

[cache]
memory_bytes = 2000000
policy = "auto"
[log]
level = "info"
""")
    cfg.close()
    server = subprocess.Popen([BIN, "serve", "--config", cfg.name])
    try:
        for _ in range(100):
            try:
                Conn().call("PING")
                break
            except OSError:
                time.sleep(0.1)
        phase("phase 1: a loop larger than the cache", looping)
        phase("phase 2: a skewed hot set among one-off keys", skewed)
        phase("phase 3: the loop again", looping)
        info = Conn().call("INFO", "policies").decode()
        print("\n" + "\n".join(l for l in info.splitlines() if "auto" in l))
        print(f"\nops {ops}, failed or wrong replies: {errors}")
    finally:
        server.terminate()
        server.wait()
        os.unlink(cfg.name)
    sys.exit(1 if errors else 0)


main()
