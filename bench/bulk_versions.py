#!/usr/bin/env python3
"""Fill a stopped promptd's SQLite database up to N prompts x V versions, fast.

Usage: bulk_versions.py DB_FILE PREFIX FROM N V

Prompts PREFIX_00000 .. PREFIX_{FROM-1} must already exist, written by promptd itself through
HTTP (create_versions.py). This copies the rows promptd wrote for PREFIX_00000 (all V versions)
to PREFIX_{FROM} .. PREFIX_{N-1}: same columns, same JSON text byte for byte, with the prompt id
substituted, a fresh uuid per row, and the counter row promptd keeps per (prompt, environment).
One transaction; promptd must not be running. Prints the rows added and the seconds taken.
"""
import sqlite3
import sys
import time
import uuid


def main():
    db, prefix, start, n, v = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    t0 = time.perf_counter()
    con = sqlite3.connect(db)
    tpl_id = f"{prefix}_00000"
    rows = con.execute(
        "SELECT version, environment, created_by, litellm_params, prompt_info, created_at, updated_at "
        "FROM prompt_versions WHERE prompt_id = ? ORDER BY version", (tpl_id,)).fetchall()
    if len(rows) != v:
        sys.exit(f"bulk_versions.py: {tpl_id} has {len(rows)} versions in {db}, expected {v}")
    counters = con.execute("SELECT environment, last_version FROM prompt_counters WHERE prompt_id = ?",
                           (tpl_id,)).fetchall()
    added = 0
    with con:
        for i in range(start, n):
            pid = f"{prefix}_{i:05d}"
            con.executemany(
                "INSERT INTO prompt_versions (id, prompt_id, version, environment, created_by, "
                "litellm_params, prompt_info, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                [(str(uuid.uuid4()), pid, ver, env, by, params.replace(tpl_id, pid), info, ca, ua)
                 for (ver, env, by, params, info, ca, ua) in rows])
            con.executemany(
                "INSERT INTO prompt_counters (prompt_id, environment, last_version) VALUES (?,?,?)",
                [(pid, env, last) for (env, last) in counters])
            added += len(rows)
    total = con.execute("SELECT count(*) FROM prompt_versions").fetchone()[0]
    con.close()
    print(f"added {added} versions ({n - start} prompts) in {time.perf_counter() - t0:.2f} s; "
          f"{total} versions in the database")


if __name__ == "__main__":
    main()
