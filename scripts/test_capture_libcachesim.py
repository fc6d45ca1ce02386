"""A goldylox capture, read by software no one here wrote: libCacheSim.

Run by scripts/client_tests.sh (suite `capture`) against a running
`goldylox serve`: a redis-py client runs a cache-aside workload while
`GOLDYLOX TRACE` records it; libCacheSim's own reader (PyPI `libcachesim`,
trace type ORACLE_SYS_TWRNS_TRACE) must then read back every request, with
the op, size, TTL and next access goldylox wrote.
"""

import os
import random
import tempfile

import libcachesim as lcs
import pytest
import redis


@pytest.fixture
def client():
    c = redis.Redis.from_url(os.environ.get("GOLDYLOX_URL", "redis://127.0.0.1:6394/0"))
    c.flushall()
    yield c
    c.close()


def capture(client, path, requests=4000):
    """A cache-aside workload under capture; what was issued, by op."""
    rng = random.Random(7)
    issued = {"get": 0, "set": 0, "delete": 0}
    sizes = {}
    client.execute_command("GOLDYLOX", "TRACE", "START", "FILE", path)
    for i in range(requests):
        key = f"page:{int(rng.random() ** 2 * 500)}"
        if i % 40 == 39:
            client.delete(key)
            issued["delete"] += 1
            continue
        issued["get"] += 1
        if client.get(key) is None:
            value = b"x" * rng.randint(10, 2000)
            ttl = 600 if i % 2 else None
            client.set(key, value, ex=ttl)
            sizes[key] = len(value)
            issued["set"] += 1
    lines = client.execute_command("GOLDYLOX", "TRACE", "STOP")
    return issued, [l.decode() if isinstance(l, bytes) else l for l in lines]


def test_libcachesim_reads_every_captured_request(client):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "app.oracleSysTwrNS.bin")
        issued, lines = capture(client, path)
        assert "dropped=0 truncated=0" in lines[0], lines
        reader = lcs.TraceReader(path, trace_type=lcs.TraceType.ORACLE_SYS_TWRNS_TRACE)
        reqs = list(reader)
        ops = {"get": 0, "set": 0, "delete": 0}
        names = {lcs.ReqOp.OP_GET: "get", lcs.ReqOp.OP_SET: "set", lcs.ReqOp.OP_DELETE: "delete"}
        for r in reqs:
            ops[names[r.op]] += 1
        assert ops == issued
        assert f"records={len(reqs)} " in lines[0]
        gets = [r for r in reqs if r.op == lcs.ReqOp.OP_GET]
        assert all(r.obj_size > 0 for r in gets), "no get is 0 bytes"
        sets = [r for r in reqs if r.op == lcs.ReqOp.OP_SET]
        assert {r.ttl for r in sets} <= {0, 599, 600}
        assert any(r.ttl > 0 for r in sets) and any(r.ttl == 0 for r in sets)
        # Each next access names the next record of the same object.
        for i, r in enumerate(reqs):
            later = [j for j in range(i + 1, len(reqs)) if reqs[j].obj_id == r.obj_id][:1]
            if later:
                assert r.next_access_vtime == later[0] + 1, (i, r.next_access_vtime, later)
            if i > 400:
                break


def test_libcachesim_simulates_the_capture(client):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "app.oracleSysTwrNS.bin")
        capture(client, path)
        reader = lcs.TraceReader(path, trace_type=lcs.TraceType.ORACLE_SYS_TWRNS_TRACE)
        small = lcs.LRU(cache_size=64 * 1024).process_trace(reader)
        reader = lcs.TraceReader(path, trace_type=lcs.TraceType.ORACLE_SYS_TWRNS_TRACE)
        large = lcs.LRU(cache_size=1 << 30).process_trace(reader)
        # (object miss ratio, byte miss ratio): a larger cache misses less.
        assert 0 < large[0] < small[0] <= 1, (small, large)
