#!/usr/bin/env python3
"""Turn the raw outputs of bench/run.sh into tables, and write them into BENCHMARKS.md.

Usage: report.py RESULTS_DIR [BENCHMARKS.md]

Prints the markdown. With a second argument, replaces the section between
`<!-- section: run (bench/run.sh) -->` and `<!-- /section: run -->` in that file (appending the
section if it is not there yet, creating the file if needed) and leaves everything else alone.
"""
import json
import os
import re
import sys

BEGIN = "<!-- section: run (bench/run.sh) -->"
END = "<!-- /section: run -->"
BEGIN_RE = re.compile(r"<!-- section: run \(bench/run\.sh\) -->")

RES = sys.argv[1]


def read(name, default=None, keep_indent=False):
    p = os.path.join(RES, name)
    if not os.path.exists(p):
        return default
    with open(p) as f:
        text = f.read()
    return text.rstrip() if keep_indent else text.strip()


def num(name):
    v = read(name)
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


def ms(tok):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", tok)
    if not m:
        return None
    v, u = float(m.group(1)), m.group(2)
    return v * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[u]


def wrk(name):
    text = read(f"{name}.wrk")
    if text is None:
        return None
    r = {"rps": None, "p50": None, "p99": None, "non2xx": 0, "errors": 0, "requests": None}
    for line in text.splitlines():
        t = line.split()
        if line.startswith("Requests/sec:"):
            r["rps"] = float(t[1])
        elif len(t) == 2 and t[0] == "50%":
            r["p50"] = ms(t[1])
        elif len(t) == 2 and t[0] == "99%":
            r["p99"] = ms(t[1])
        elif "Non-2xx or 3xx responses:" in line:
            r["non2xx"] = int(t[-1])
        elif line.strip().startswith("Socket errors:"):
            r["errors"] = sum(int(x.rstrip(",")) for x in re.findall(r"\d+", line))
        elif "requests in" in line:
            r["requests"] = int(t[0])
    cpu = num(f"{name}.cpu")
    if cpu is not None and r["requests"]:
        r["cpu_us"] = cpu / r["requests"] * 1e6
    w = read(f"{name}.wrkcpu")
    if w and r["requests"]:
        try:
            u, s_, _ = (float(x) for x in w.splitlines()[-1].split())
            r["wrk_cpu_us"] = (u + s_) / r["requests"] * 1e6
        except ValueError:
            pass
    return r


def f_rps(r):
    if r is None or r["rps"] is None:
        return "–"
    s = f"{r['rps']:,.0f}" if r["rps"] >= 100 else f"{r['rps']:,.1f}"
    bad = r["non2xx"] + r["errors"]
    return s + (f" ⚠ {bad} errors" if bad else "")


def f_ms(v):
    if v is None:
        return "–"
    return f"{v:,.2f}" if v < 100 else f"{v:,.0f}"


def f_lat(r):
    if r is None:
        return "–"
    return f"{f_ms(r['p50'])} / {f_ms(r['p99'])}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def f_ratio(x):
    if x is None:
        return "–"
    return f"{x:,.0f}×" if x >= 10 else f"{x:,.1f}×"


def mark(ok):
    return "–" if ok is None else ("✅ met" if ok else "❌ missed")


meta = {}
for line in (read("meta.env") or "").splitlines():
    if "=" in line:
        k, v = line.split("=", 1)
        meta[k] = v

out = []
P = out.append
P(f"Run {meta.get('date_utc', '?')}, {meta.get('elapsed_s', '?')} s in all. "
  f"Each wrk figure is one {meta.get('duration_s', '?')}-second run (`wrk -t2 -c32` or `-t1 -c1`, "
  "`--latency`, after a 2-second warm-up), on the same machine as the servers. Latencies are "
  "p50 / p99 in milliseconds. Ratios are promptd ÷ LiteLLM for throughput and LiteLLM ÷ promptd "
  "for latency, time and memory (higher is better for promptd).")
P("")

# ------------------------------------------------------------------ head to head
P("### promptd vs LiteLLM, 100 prompts, one config file")
P("")
P("| measurement | promptd | LiteLLM | ratio | goal | |")
P("|---|---|---|---|---|---|")
goals = []


def row(label, pd, ll, rat, goal="", ok=None):
    P(f"| {label} | {pd} | {ll} | {f_ratio(rat)} | {goal} | {mark(ok) if goal else ''} |")
    if goal:
        goals.append(("100 prompts: " + label, goal, ok))


for ep, label in (("list", "`GET /prompts/list`"), ("info", "`GET /prompts/bench_prompt_050/info`")):
    pd32, ll32 = wrk(f"promptd_{ep}_c32"), wrk(f"litellm_{ep}_c32")
    pd1, ll1 = wrk(f"promptd_{ep}_c1"), wrk(f"litellm_{ep}_c1")
    rr = ratio(pd32 and pd32["rps"], ll32 and ll32["rps"])
    row(f"{label} c=32 req/s", f_rps(pd32), f_rps(ll32), rr, "≥ 100×", None if rr is None else rr >= 100)
    if ep == "info":
        v = pd32 and pd32["rps"]
        row(f"{label} c=32 req/s, absolute", f_rps(pd32), "", None, "≥ 20,000 req/s",
            None if v is None else v >= 20000)
    p99 = pd32 and pd32["p99"]
    row(f"{label} c=32 p50 / p99 ms", f_lat(pd32), f_lat(ll32), ratio(ll32 and ll32["p99"], p99),
        "p99 < 5 ms", None if p99 is None else p99 < 5)
    row(f"{label} c=1 req/s", f_rps(pd1), f_rps(ll1), ratio(pd1 and pd1["rps"], ll1 and ll1["rps"]))
    row(f"{label} c=1 p50 / p99 ms", f_lat(pd1), f_lat(ll1), ratio(ll1 and ll1["p99"], pd1 and pd1["p99"]))
    if pd32 and ll32 and "cpu_us" in pd32 and "cpu_us" in ll32:
        row(f"{label} c=32 server CPU µs per request", f"{pd32['cpu_us']:,.0f}", f"{ll32['cpu_us']:,.0f}",
            ratio(ll32["cpu_us"], pd32["cpu_us"]))


def chat_rows(up, up_label):
    direct = wrk(f"direct_{up}_c32")
    if direct is None:
        return
    for kind, klabel in (("chat", "non-streaming"), ("chatstream", "streaming")):
        cells = []
        rs = []
        for s in ("promptd", "litellm"):
            st = read(f"chat_status_{s}_{up}.txt")
            r = wrk(f"{s}_{kind}_{up}_c32")
            if st == "404":
                cells.append("n/a (endpoint missing)"); rs.append(None)
            elif r is None:
                cells.append("–"); rs.append(None)
            else:
                cells.append(f"{f_rps(r)} ({f_lat(r)} ms)"); rs.append(r)
        rr = ratio(rs[0] and rs[0]["rps"], rs[1] and rs[1]["rps"])
        row(f"`POST /chat/completions` prompt_id, {klabel}, c=32 req/s (p50 / p99), {up_label}",
            cells[0], cells[1], rr, "≥ 20×", None if rr is None else rr >= 20)
    row(f"{up_label} alone (its ceiling), c=32 req/s (p50 / p99)",
        f"{f_rps(direct)} ({f_lat(direct)} ms)", "", None)


chat_rows("py", "anchor's echo_upstream.py")
chat_rows("fast", "bench/echo-fast")

s_pd, s_ll = num("startup_promptd.txt"), num("startup_litellm.txt")
rr = ratio(s_ll, s_pd)
row("startup to healthy, s (`/health/readiness` polled every 10 ms)",
    f"{s_pd:.3f}" if s_pd is not None else "–", f"{s_ll:.2f}" if s_ll is not None else "–",
    rr, "≥ 20× faster", None if rr is None else rr >= 20)
r_pd, r_ll = num("rss_idle_promptd.txt"), num("rss_idle_litellm.txt")
rr = ratio(r_ll, r_pd)
row("idle RSS after startup, MiB", f"{r_pd:.1f}" if r_pd else "–", f"{r_ll:.1f}" if r_ll else "–",
    rr, "≥ 10× smaller", None if rr is None else rr >= 10)
q_pd, q_ll = num("rss_peak_promptd.txt"), num("rss_peak_litellm.txt")
row("peak RSS during the c=32 read runs, MiB", f"{q_pd:.1f}" if q_pd else "–",
    f"{q_ll:.1f}" if q_ll else "–", ratio(q_ll, q_pd))
P("")
pi = wrk("promptd_info_c32")
if pi and "cpu_us" in pi and "wrk_cpu_us" in pi:
    cores = int(meta.get("nproc", "2") or 2)
    P(f"CPU per `info` request at c=32: promptd {pi['cpu_us']:,.0f} µs, wrk {pi['wrk_cpu_us']:,.0f} µs. "
      f"With both on {cores} cores, that caps this machine at about "
      f"{cores * 1e6 / (pi['cpu_us'] + pi['wrk_cpu_us']):,.0f} req/s, before other tenants take their share.")
    P("")
cc = read("check_config.txt")
if cc:
    P("Both servers loaded the same generated config (`gen_config.py 100`), unchanged. "
      "`bench/check_config.py` compared what they serve:")
    P("")
    P("```")
    P(cc)
    P("```")
    P("")

# ------------------------------------------------------------------ scale
n, v = meta.get("scale_prompts", "?"), meta.get("scale_versions", "?")
if n.isdigit():
    n = f"{int(n):,}"
P(f"### promptd alone: {n} prompts × {v} versions (plus the same 100 config prompts)")
P("")
wr = read("writes.json")
wj = json.loads(wr) if wr else None
bulk = read("bulk.txt")
P("| measurement | value | goal | |")
P("|---|---|---|---|")


def srow(label, val, goal="", ok=None):
    P(f"| {label} | {val} | {goal} | {mark(ok) if goal else ''} |")
    if goal:
        goals.append((f"{n} × {v}: " + label, goal, ok))


if wj:
    srow(f"writes through HTTP: versions/s on SQLite ({wj['clients']} clients, "
         f"{wj['writes']:,} writes = {wj['prompts']:,} × POST + {wj['versions_per_prompt'] - 1} PUT)",
         f"{wj['versions_per_s']:,.0f} (p50 {wj['p50_ms']:.1f} ms, p99 {wj['p99_ms']:.1f} ms"
         + (f", ⚠ {wj['errors']} errors" if wj["errors"] else "") + ")")
st = num("startup_scale.txt")
srow("startup to healthy, s", f"{st:.3f}" if st is not None else "–", "< 2 s", None if st is None else st < 2)
ri = num("rss_idle_scale.txt")
srow("idle RSS after startup, MiB", f"{ri:.1f}" if ri else "–", "< 200 MB (190.7 MiB)",
     None if ri is None else ri < 200e6 / 2**20)
rp = num("rss_peak_scale.txt")
srow("peak RSS during the c=32 runs, MiB", f"{rp:.1f}" if rp else "–", "< 200 MB (190.7 MiB)",
     None if rp is None else rp < 200e6 / 2**20)
sl = wrk("scale_list_c32")
srow("`GET /prompts/list?page=1&page_size=100` c=32 req/s (p50 / p99 ms)", f"{f_rps(sl)} ({f_lat(sl)})")
si, si10 = wrk("scale_info_c32"), wrk("scale_info10_c32")
base = wrk("promptd_info_c32")
rr = ratio(si and si["p99"], base and base["p99"])
srow("`GET /prompts/bench_prompt_050/info` c=32 req/s (p50 / p99 ms)", f"{f_rps(si)} ({f_lat(si)})")
srow("… its p99 ÷ the same call's p99 with 100 prompts", f_ratio(rr) if rr is not None else "–",
     "unchanged (≤ 1.25×)", None if rr is None else rr <= 1.25)
mid = read("scale_mid.txt") or "?"
rr10 = ratio(si10 and si10["p99"], base and base["p99"])
srow(f"`GET /prompts/{mid}/info` (10 versions) c=32 req/s (p50 / p99 ms)",
     f"{f_rps(si10)} ({f_lat(si10)}); p99 {f_ratio(rr10)} the 100-prompt case")
if si and "cpu_us" in si and base and "cpu_us" in base:
    srow("server CPU µs per info request, 10,000 × 10 vs 100 prompts", f"{si['cpu_us']:,.0f} vs {base['cpu_us']:,.0f}")
sm = read("scale_metrics.txt")
if sm:
    srow("in memory after the restart (`/metrics`)", ", ".join(sm.split("\n")))
P("")
P(f"How the {n} × {v} were made: a fresh promptd (same config, new SQLite file) took "
  f"{wj['prompts'] if wj else '?':,} prompts × {v} versions through HTTP (`bench/create_versions.py`: POST then "
  f"PUTs, {wj['clients'] if wj else '?'} keep-alive clients, every write an acknowledged commit with "
  "`synchronous=FULL`); that is the write figure above. promptd was then stopped and "
  "`bench/bulk_versions.py` copied the rows promptd itself had written for `scale_00000` to the "
  "remaining prompts in one SQLite transaction (same JSON text, ids substituted, fresh uuids, "
  "counter rows), because 100,000 acknowledged HTTP writes take minutes at the rate measured. "
  "`BENCH_SCALE_HTTP_PROMPTS=10000` writes all of them through HTTP instead. "
  + (f"Copy: {bulk}. " if bulk else "")
  + "promptd was then started on that file and timed to healthy.")
P("")

# ------------------------------------------------------------------ goals
P("### Goals")
P("")
met = sum(1 for g in goals if g[2])
P(f"{met} of {len(goals)} met in this run.")
P("")
for label, goal, ok in goals:
    P(f"- {mark(ok)}: {label.replace('|', '/')} — goal {goal}")
P("")

# ------------------------------------------------------------------ machine and versions
P("### Machine, versions, command")
P("")
P(f"- machine: {meta.get('nproc', '?')} cores ({meta.get('cpu', '?')}), {meta.get('mem_total', '?')} RAM, "
  f"Linux {meta.get('kernel', '?')}; shared with other engineers' builds: load average "
  f"{meta.get('loadavg_before', '?')} before, {meta.get('loadavg_after', '?')} after")
free = read("free.txt", keep_indent=True)
if free:
    P("- `free -h`:")
    P("")
    P("  ```")
    for line in free.splitlines():
        P("  " + line)
    P("  ```")
    P("")
if meta.get("promptd_bin_given") == "1":
    P(f"- promptd: `{meta.get('promptd_version', '?')}`, binary given with PROMPTD_BIN "
      f"(`{meta.get('promptd_bin', '?')}`{', ' + meta['promptd_bin_desc'] if meta.get('promptd_bin_desc') else ''}); "
      f"the repository was at {meta.get('git_commit', '?')}")
else:
    P(f"- promptd: `{meta.get('promptd_version', '?')}`, built by the run (`cargo build --release -j2 -p promptd`) "
      f"at commit {meta.get('git_commit', '?')}"
      + (f" with {meta['git_crates_dirty_files']} uncommitted file(s) under crates/"
         if meta.get("git_crates_dirty_files", "0") != "0" else " (clean tree)")
      + f", {meta.get('rustc_version', '?')}")
P(f"- LiteLLM: {meta.get('litellm_version', '?')} (`litellm[proxy]` from PyPI, one worker, "
  "config-only, no database), via /work/shared/anchors/litellm")
P(f"- load generator: {meta.get('wrk_version', '?')}; Python {meta.get('python_version', '?')}")
P(f"- command: `{meta.get('command', 'bench/run.sh')}` (raw outputs: `bench/results/{os.path.basename(RES.rstrip('/'))}/`, not committed)")

text = "\n".join(out) + "\n"
print(text)

if len(sys.argv) > 2:
    path = sys.argv[2]
    section = (f"{BEGIN}\n## promptd vs LiteLLM, and promptd at 10,000 prompts (`bench/run.sh`)\n\n"
               "Generated by `bench/report.py` from the run below; edit the scripts, not this section.\n\n"
               f"{text}{END}\n")
    old = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
    m = BEGIN_RE.search(old)
    if m and END in old[m.end():]:
        e = old.index(END, m.end()) + len(END)
        if old[e:e + 1] == "\n":
            e += 1
        new = old[:m.start()] + section + old[e:]
    else:
        new = old.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(new)
    print(f"wrote the section into {path}", file=sys.stderr)
