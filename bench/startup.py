#!/usr/bin/env python3
"""Start a server and time it to healthy.

Usage: startup.py PIDFILE LOGFILE URL TIMEOUT_S -- CMD [ARGS...]

Spawns CMD in its own session (so its whole process group can be stopped by pid later),
writes its pid to PIDFILE, and polls URL (a GET, expecting 200) every 10 ms from the moment
the process was created. Prints the seconds from spawn to the first 200 and exits 0; exits 1
(printing the end of the log) if the process dies or TIMEOUT_S passes. The server keeps running.
"""
import http.client
import os
import subprocess
import sys
import time
import urllib.parse


def poll_once(host, port, path):
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status
    except OSError:
        return None
    finally:
        conn.close()


def main():
    sep = sys.argv.index("--")
    pidfile, logfile, url, timeout = sys.argv[1:sep]
    cmd = sys.argv[sep + 1:]
    u = urllib.parse.urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    log = open(logfile, "wb")
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    with open(pidfile, "w") as f:
        f.write(f"{p.pid}\n")
    deadline = t0 + float(timeout)
    polls = 0
    while time.monotonic() < deadline:
        status = poll_once(u.hostname, u.port, path)
        polls += 1
        if status == 200:
            print(f"{time.monotonic() - t0:.3f}")
            return 0
        if p.poll() is not None:
            break
        time.sleep(0.01)
    log.close()
    why = f"exited with {p.returncode}" if p.poll() is not None else f"not healthy after {timeout}s"
    sys.stderr.write(f"startup.py: {cmd[0]} {why} ({polls} polls of {url}); end of its log:\n")
    with open(logfile, "rb") as f:
        sys.stderr.write(f.read()[-3000:].decode(errors="replace") + "\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
