#!/usr/bin/env python3
"""Resident memory of a process and all its descendants, from /proc/PID/status VmRSS.

  rss.py now PID            print the current sum in MiB
  rss.py peak PID OUTFILE   sample every 50 ms until SIGTERM/SIGINT or until PID exits,
                            then write the highest sum (MiB) to OUTFILE
  rss.py cpu PID            print the CPU seconds (user + system) used so far by the tree
"""
import os
import signal
import sys
import time


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces
        ppid = int(s[s.rfind(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pid):
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def vmrss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pid):
    tck = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rfind(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tck


def total_mib(pid):
    return sum(vmrss_kib(p) for p in tree(pid)) / 1024.0


def main():
    mode, pid = sys.argv[1], int(sys.argv[2])
    if mode == "cpu":
        print(f"{cpu_s(pid):.2f}")
        return 0
    if mode == "now":
        print(f"{total_mib(pid):.1f}")
        return 0
    out = sys.argv[3]
    peak = 0.0
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    while not stop and os.path.exists(f"/proc/{pid}"):
        peak = max(peak, total_mib(pid))
        time.sleep(0.05)
    with open(out, "w") as f:
        f.write(f"{peak:.1f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
