#!/usr/bin/env python3
"""Create N prompts x V versions through promptd's HTTP API, with C parallel clients.

Usage: create_versions.py BASE_URL KEY N V C OUT_JSON [PREFIX]

Prompt i is `PREFIX_{i:05d}` (default prefix `scale`). Client t owns the prompts with
i % C == t and, for each, sends POST /prompts (version 1) then V-1 times PUT /prompts/{id}
(versions 2..V), each a different template, over one keep-alive connection. Every write is an
acknowledged SQLite commit (WAL, synchronous=FULL). Writes the counts, the wall time,
versions/second and write latency percentiles to OUT_JSON and prints a one-line summary.
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse


def body(pid, version):
    content = (f"---\nmodel: mock-gpt\ntemperature: 0.{version % 10}\n---\n"
               f"System: You are scale assistant {pid}, revision {version}.\n\n"
               f"User: Hello {{{{name}}}}, this is {pid} v{version}.")
    return json.dumps({"prompt_id": pid,
                       "litellm_params": {"prompt_integration": "dotprompt",
                                          "dotprompt_content": content},
                       "prompt_info": {"prompt_type": "db"}}).encode()


def main():
    base, key, n, v, c, out = sys.argv[1:7]
    prefix = sys.argv[7] if len(sys.argv) > 7 else "scale"
    n, v, c = int(n), int(v), int(c)
    u = urllib.parse.urlsplit(base)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    lat = [[] for _ in range(c)]
    errors = [[] for _ in range(c)]

    def client(t):
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        for i in range(t, n, c):
            pid = f"{prefix}_{i:05d}"
            for ver in range(1, v + 1):
                method, path = ("POST", "/prompts") if ver == 1 else ("PUT", f"/prompts/{pid}")
                t0 = time.perf_counter()
                try:
                    conn.request(method, path, body=body(pid, ver), headers=headers)
                    r = conn.getresponse()
                    data = r.read()
                    status = r.status
                except OSError as e:
                    conn.close()
                    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
                    status, data = None, str(e).encode()
                lat[t].append(time.perf_counter() - t0)
                if status != 200:
                    errors[t].append(f"{method} {path}: {status} {data[:200]!r}")

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(t,)) for t in range(c)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    all_lat = sorted(x for l in lat for x in l)
    errs = [e for l in errors for e in l]

    def pct(p):
        return all_lat[min(len(all_lat) - 1, int(p / 100 * len(all_lat)))] * 1000 if all_lat else 0

    res = {"prompts": n, "versions_per_prompt": v, "clients": c, "writes": len(all_lat),
           "errors": len(errs), "first_errors": errs[:5], "wall_s": round(wall, 3),
           "versions_per_s": round(len(all_lat) / wall, 1) if wall else 0,
           "p50_ms": round(pct(50), 3), "p99_ms": round(pct(99), 3)}
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"{res['writes']} writes ({res['errors']} errors) in {res['wall_s']} s with {c} clients: "
          f"{res['versions_per_s']} versions/s, p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms")
    for e in errs[:5]:
        print("  error:", e)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
