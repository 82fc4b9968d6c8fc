#!/usr/bin/env python3
"""Watch-stream benchmark (issue 13): how soon a watcher hears an acknowledged write, on the
same instance (SQLite) and across instances (PostgreSQL), what 1,000 idle watchers cost in
memory, and whether they move read throughput.

  bench/watch.py BINARY [PG_ADMIN_URL]

Only the standard library, plus `wrk` for the read throughput. Loopback only; every loop is
bounded. Prints a Markdown section for BENCHMARKS.md.
"""
import http.client
import json
import statistics
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time

BIN = sys.argv[1]
PG = sys.argv[2] if len(sys.argv) > 2 else None
KEY = "sk-bench-watch"
HERE = os.path.dirname(os.path.abspath(__file__))
WRITES = int(os.environ.get("WATCH_BENCH_WRITES", "300"))
# Rounds of the alternating with/without read measurement (BENCH_WATCH_ROUNDS).
ROUNDS = int(os.environ.get("BENCH_WATCH_ROUNDS", "5"))
IDLE = int(os.environ.get("WATCH_BENCH_IDLE", "1000"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(db, tmp):
    port = free_port()
    env = dict(os.environ, PROMPTD_MASTER_KEY=KEY)
    log = open(os.path.join(tmp, f"promptd-{port}.log"), "w")
    p = subprocess.Popen([BIN, "serve", "--database-url", db, "--port", str(port)], env=env,
                         stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(400):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/health/liveliness")
            if c.getresponse().status == 200:
                return p, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("promptd did not start")


def body(i):
    return json.dumps({"prompt_id": "bench_watch", "litellm_params": {
        "prompt_integration": "dotprompt", "dotprompt_content": f"User: hello {i} {{{{name}}}}"},
        "prompt_info": {"prompt_type": "db"}})


class Watcher(threading.Thread):
    """One SSE client recording when each version's event arrived."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.seen = {}
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(f"GET /prompts/watch?prompt_id=bench_watch HTTP/1.1\r\nHost: x\r\n"
                          f"Authorization: Bearer {KEY}\r\nAccept: text/event-stream\r\n\r\n".encode())
        self.start()

    def run(self):
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            now = time.perf_counter()
            buf += chunk
            while b"\n\n" in buf:
                frame, buf = buf.split(b"\n\n", 1)
                for line in frame.split(b"\n"):
                    # chunked encoding lines are not "data: " lines, so they are skipped
                    if line.startswith(b"data: "):
                        self.seen[json.loads(line[6:])["version"]] = now


def latency(write_port, watch_port, label):
    w = Watcher(watch_port)
    time.sleep(0.5)
    c = http.client.HTTPConnection("127.0.0.1", write_port)
    acks = {}
    for i in range(1, WRITES + 1):
        c.request("POST", "/prompts", body(i), {"Authorization": f"Bearer {KEY}",
                                                 "content-type": "application/json"})
        r = c.getresponse()
        v = json.loads(r.read())["version"]
        acks[v] = time.perf_counter()
        time.sleep(0.005)
    deadline = time.time() + 10
    while len(w.seen) < len(acks) and time.time() < deadline:
        time.sleep(0.01)
    note(label, len(w.seen), "of", len(acks), "events")
    lat = sorted(max(0.0, w.seen[v] - t) * 1000 for v, t in acks.items() if v in w.seen)
    missing = len(acks) - len(lat)
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    return (f"| {label} | {len(lat)} | {pct(0.5):.2f} | {pct(0.99):.2f} | {lat[-1]:.2f} | {missing} |")


def rss_mib(pid):
    out = subprocess.run([sys.executable, os.path.join(HERE, "rss.py"), "now", str(pid)],
                         capture_output=True, text=True).stdout.strip()
    return float(out.split()[0])


def note(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def wrk(port):
    note("wrk")
    with tempfile.TemporaryFile("w+") as f:
        subprocess.run(["timeout", "30", "wrk", "-t2", "-c32", "-d10s", "-H",
                        f"Authorization: Bearer {KEY}",
                        f"http://127.0.0.1:{port}/prompts/bench_watch/info"],
                       stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        f.seek(0)
        out = f.read()
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise SystemExit(out)


def open_watchers(port):
    socks = []
    for _ in range(IDLE):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(f"GET /prompts/watch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode())
        socks.append(s)
    for s in socks:
        s.settimeout(5)
        assert b"200" in s.recv(4096).split(b"\r\n", 1)[0]
    return socks


def idle_watchers(proc, port):
    """Memory of IDLE watchers, and read throughput without and with them, alternating
    ROUNDS times (medians): one 10 s run swings by ±10% on a shared 2-core machine."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    wrk(port)  # warm-up
    time.sleep(1)
    before = rss_mib(proc.pid)
    after = None
    without, with_ = [], []
    for _ in range(ROUNDS):
        without.append(wrk(port))
        socks = open_watchers(port)
        time.sleep(2)
        if after is None:
            after = rss_mib(proc.pid)
        with_.append(wrk(port))
        for s in socks:
            s.close()
        time.sleep(1)
    return before, after, statistics.median(without), statistics.median(with_), (without, with_)


def main():
    tmp = tempfile.mkdtemp()
    rows = []
    a, pa = start(f"sqlite://{tmp}/w.db", tmp)
    try:
        rows.append(latency(pa, pa, "same instance, SQLite"))
        before, after, r0, r1, r2 = idle_watchers(a, pa)
    finally:
        a.terminate()
        a.wait()
    if PG:
        name = f"promptd_bench_watch_{os.getpid()}"
        head = PG.rsplit("/", 1)[0]
        subprocess.run(["psql", PG, "-qc", f'CREATE DATABASE "{name}"'], check=True)
        url = f"{head}/{name}"
        subprocess.run([BIN, "migrate", "--database-url", url], check=True, capture_output=True)
        a, pa = start(url, tmp)
        b, pb = start(url, tmp)
        try:
            rows.append(latency(pa, pa, "same instance, PostgreSQL"))
            rows.append(latency(pa, pb, "across instances, PostgreSQL"))
        finally:
            for p in (a, b):
                p.terminate()
                p.wait()
            subprocess.run(["psql", PG, "-qc", f'DROP DATABASE "{name}" WITH (FORCE)'])
    print("| watcher | events | p50 ms | p99 ms | max ms | missed |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(r)
    print()
    print(f"{IDLE} idle watchers: RSS {before:.1f} MiB -> {after:.1f} MiB "
          f"(+{after - before:.1f} MiB, {(after - before) * 1024 / IDLE:.1f} KiB each)")
    print(f"GET /prompts/bench_watch/info, wrk c=32 10 s, {ROUNDS} rounds alternating (medians): "
          f"{r0:.0f} req/s without watchers, {r1:.0f} req/s with {IDLE} idle watchers "
          f"({(r1 - r0) / r0 * 100:+.1f}%); runs without {[round(x) for x in r2[0]]}, "
          f"with {[round(x) for x in r2[1]]}")


if __name__ == "__main__":
    import faulthandler
    faulthandler.dump_traceback_later(int(os.environ.get("WATCH_BENCH_DUMP", "100000")))
    main()
