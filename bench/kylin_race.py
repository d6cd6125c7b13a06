#!/usr/bin/python3
"""Kylin's leader race on PostgreSQL: the steady-state load it puts on the metastore.

Creates Kylin's epoch table (<prefix>_epoch, DESIGN.md), inserts --rows project rows owned
by one engine, then times renewal rounds as Kylin 5 issues them: JdbcEpochStore.updateBatch
sends, in one transaction, one compare-and-set UPDATE per owned row

    update kylin_metadata_epoch set epoch_id=?, current_epoch_owner=?,
        last_epoch_renew_time=?, server_mode=?, maintenance_mode_reason=?, mvcc=?
    where epoch_target=? and mvcc=?                                 (mvcc = old + 1)

as a JDBC batch (here psycopg2.extras.execute_batch, 100 statements per round trip) and
fails the round unless every row was updated. A second variant sends the rows one round
trip each, checking each row's CAS (a driver without batching). Every round is verified
afterwards: all rows have mvcc = rounds done.

Run by bench/run.sh as the postgres user against a private server:
    kylin_race.py --host SOCKET_DIR --port PORT --rows 10000 --rounds 3
Prints RESULT lines (RESULT <name> <value> <unit>)."""
import argparse
import statistics
import sys
import time

import psycopg2
import psycopg2.extras

TABLE = "kylin_metadata_epoch"

DDL = """create table %s (
    epoch_id int,
    epoch_target varchar(255) primary key,
    current_epoch_owner varchar(2000),
    last_epoch_renew_time bigint,
    server_mode varchar(10),
    maintenance_mode_reason varchar(5000),
    mvcc bigint,
    reserved_field_1 varchar(50),
    reserved_field_2 bytea,
    reserved_field_3 bytea
)""" % TABLE

UPDATE = ("update %s set epoch_id = %%s, current_epoch_owner = %%s, last_epoch_renew_time = %%s, "
          "server_mode = %%s, maintenance_mode_reason = %%s, mvcc = %%s "
          "where epoch_target = %%s and mvcc = %%s" % TABLE)

OWNER = "127.0.0.1:7070|1700000000000"


def wal_lsn(cur):
    cur.execute("select pg_current_wal_lsn()")
    return cur.fetchone()[0]


def wal_diff(cur, a, b):
    cur.execute("select pg_wal_lsn_diff(%s, %s)", (b, a))
    return int(cur.fetchone()[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True, help="unix socket directory")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--interval-s", type=int, default=30, help="Kylin's heart-beat-interval")
    args = ap.parse_args()
    n = args.rows
    tag = "%dk" % (n // 1000) if n % 1000 == 0 else str(n)

    conn = psycopg2.connect(host=args.host, port=args.port, dbname="postgres", user="postgres")
    cur = conn.cursor()
    cur.execute("drop table if exists %s" % TABLE)
    cur.execute(DDL)
    now = int(time.time() * 1000)
    rows = [(0, "project_%05d" % i, OWNER, now, "all", None, 0) for i in range(n)]
    t = time.perf_counter()
    psycopg2.extras.execute_values(
        cur, "insert into %s (epoch_id, epoch_target, current_epoch_owner, last_epoch_renew_time, "
        "server_mode, maintenance_mode_reason, mvcc) values %%s" % TABLE, rows, page_size=1000)
    conn.commit()
    print("INFO inserted %d epoch rows in %.0f ms" % (n, (time.perf_counter() - t) * 1000), file=sys.stderr)
    cur.execute("analyze %s" % TABLE)
    conn.commit()

    mvcc = {r[1]: 0 for r in rows}
    targets = [r[1] for r in rows]
    done = 0

    def verify():
        cur.execute("select count(*) from %s where mvcc = %%s" % TABLE, (done,))
        got = cur.fetchone()[0]
        conn.commit()
        if got != n:
            raise SystemExit("kylin_race: after round %d only %d of %d rows have mvcc %d" % (done, got, n, done))

    batch_ms, rowwise_ms, wal = [], [], []
    for _ in range(args.rounds):
        # Batch, one transaction: JdbcEpochStore.updateBatch.
        renew = int(time.time() * 1000)
        params = [(0, OWNER, renew, "all", None, mvcc[tg] + 1, tg, mvcc[tg]) for tg in targets]
        lsn0 = wal_lsn(cur)
        conn.commit()
        t = time.perf_counter()
        psycopg2.extras.execute_batch(cur, UPDATE, params, page_size=100)
        conn.commit()
        batch_ms.append((time.perf_counter() - t) * 1000)
        for tg in targets:
            mvcc[tg] += 1
        done += 1
        wal.append(wal_diff(cur, lsn0, wal_lsn(cur)))
        conn.commit()
        verify()

        # One round trip per row, each CAS checked, one transaction.
        renew = int(time.time() * 1000)
        t = time.perf_counter()
        for tg in targets:
            cur.execute(UPDATE, (0, OWNER, renew, "all", None, mvcc[tg] + 1, tg, mvcc[tg]))
            if cur.rowcount != 1:
                raise SystemExit("kylin_race: CAS on %s failed" % tg)
        conn.commit()
        rowwise_ms.append((time.perf_counter() - t) * 1000)
        for tg in targets:
            mvcc[tg] += 1
        done += 1
        verify()

    cur.execute("select pg_total_relation_size(%s)", (TABLE,))
    size = cur.fetchone()[0]
    conn.close()
    per_min = n * (60 // args.interval_s)
    med = statistics.median(batch_ms)
    print("RESULT kylin_race_renew_round_%s_ms %.1f ms" % (tag, med))
    print("RESULT kylin_race_renew_round_%s_max_ms %.1f ms" % (tag, max(batch_ms)))
    print("RESULT kylin_race_renew_round_%s_rowwise_ms %.1f ms" % (tag, statistics.median(rowwise_ms)))
    print("RESULT kylin_race_writes_per_min_%s %d writes/min" % (tag, per_min))
    print("RESULT kylin_race_wal_per_round_%s %.2f MiB" % (tag, statistics.median(wal) / 1048576))
    print("RESULT kylin_race_wal_per_day_%s %.0f MiB" % (tag, statistics.median(wal) / 1048576 * per_min / n * 60 * 24))
    print("RESULT kylin_race_table_size_%s %.2f MiB" % (tag, size / 1048576))
    print("INFO renewal rounds (batch, ms): %s; row by row (ms): %s"
          % (", ".join("%.0f" % x for x in batch_ms), ", ".join("%.0f" % x for x in rowwise_ms)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
