#!/usr/bin/env python3
"""Do LiteLLM and promptd, loaded with the same config file, serve the same prompts?

Usage: check_config.py LITELLM_URL PROMPTD_URL KEY

Compares the prompt ids of GET /prompts/list, then GET /prompts/{id}/info of every prompt
field by field (prompt_spec, raw_prompt_template, environments), and checks that promptd took
the master key from general_settings (a request without a key gets 401). Prints a summary and
every difference; exits 1 if a prompt is missing or an info call fails.
"""
import json
import sys
import urllib.error
import urllib.request


def get(url, key):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")[:300]


def flat(v, prefix=""):
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            out.update(flat(x, f"{prefix}.{k}" if prefix else k))
        return out
    return {prefix: v}


def main():
    ll, pd, key = sys.argv[1:4]
    bad = False
    s, _ = get(f"{pd}/prompts/list", None)
    print(f"promptd without a key: {s} ({'master key taken from general_settings' if s == 401 else 'UNEXPECTED'})")
    _, lla = get(f"{ll}/prompts/list", key)
    _, pda = get(f"{pd}/prompts/list", key)
    lids = [p["prompt_id"] for p in lla["prompts"]]
    pids = [p["prompt_id"] for p in pda["prompts"]]
    print(f"/prompts/list: LiteLLM {len(lids)} prompts, promptd {len(pids)} prompts")
    for i in sorted(set(lids) - set(pids)):
        print(f"  MISSING in promptd: {i}"); bad = True
    for i in sorted(set(pids) - set(lids)):
        print(f"  only in promptd: {i}")
    if lids != pids and sorted(lids) == sorted(pids):
        print("  same ids, different order (LiteLLM: config order; promptd: "
              f"{'sorted by id' if pids == sorted(pids) else 'other'})")
    ldiff = {}
    lb = {p["prompt_id"]: flat(p) for p in pda["prompts"]}
    for p in lla["prompts"]:
        fa, fb = flat(p), lb.get(p["prompt_id"], {})
        for k in sorted(set(fa) | set(fb)):
            if fb and fa.get(k, "<absent>") != fb.get(k, "<absent>"):
                ldiff.setdefault(k, []).append((p["prompt_id"], fa.get(k, "<absent>"), fb.get(k, "<absent>")))
    for k, items in sorted(ldiff.items()):
        pid, va, vb = items[0]
        print(f"  list field {k} differs for {len(items)} prompts, e.g. {pid}: LiteLLM {json.dumps(va)[:80]} vs promptd {json.dumps(vb)[:80]}")
    diffs = {}
    same = 0
    for pid in lids:
        if pid not in pids:
            continue
        s1, a = get(f"{ll}/prompts/{pid}/info", key)
        s2, b = get(f"{pd}/prompts/{pid}/info", key)
        if s1 != 200 or s2 != 200:
            print(f"  info {pid}: LiteLLM {s1}, promptd {s2}: {b if s2 != 200 else a}"); bad = True
            continue
        fa, fb = flat(a), flat(b)
        d = [k for k in sorted(set(fa) | set(fb)) if fa.get(k, "<absent>") != fb.get(k, "<absent>")]
        if not d:
            same += 1
        for k in d:
            diffs.setdefault(k, []).append((pid, fa.get(k, "<absent>"), fb.get(k, "<absent>")))
    print(f"/prompts/{{id}}/info: {same} of {len(lids)} identical field for field")
    for k, items in sorted(diffs.items()):
        pid, va, vb = items[0]
        print(f"  field {k} differs for {len(items)} prompts, e.g. {pid}: LiteLLM {json.dumps(va)[:80]} vs promptd {json.dumps(vb)[:80]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
