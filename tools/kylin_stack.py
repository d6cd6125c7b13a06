"""A private PostgreSQL 15, 3 raftnode members and 3 emulated Kylin 5 nodes, member i paired
with emulator i (raft.kylin.url, kylin.server.identity=127.0.0.1:PORT_i): the set-up of
tests/kylin_cluster/, for `make demo` (tools/kylin_demo.py) and `make bench`'s kylin phase
(bench/kylin_bench.py). Reuses tests/metastore/dbservers.py (PostgresServer),
tests/cluster/harness.py (Cluster) and tests/kylin_cluster/conftest.py (KylinCluster, which
starts the emulators with tests/kylin/conftest.py's recommended settings plus a 1 s scheduler
poll). Every process is started and stopped by its PID; everything listens on 127.0.0.1,
on free ports."""
import json
import os
import signal
import sys
import time
import uuid
import zlib

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
for d in ("tests/kylin_cluster", "tests/kylin", "tests/cluster", "tests/metastore"):
    sys.path.insert(0, os.path.join(ROOT, d))

import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location("kylin_cluster_conftest",
                                               os.path.join(ROOT, "tests", "kylin_cluster", "conftest.py"))
_kc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_kc)
from dbservers import PostgresServer  # noqa: E402
from harness import wait_for  # noqa: E402

KylinCluster = _kc.KylinCluster
JAR = _kc.kylin_conftest.JAR
PREFIX = "kylin_metadata"  # Kylin's default metadata identifier: tables kylin_metadata, kylin_metadata_epoch


def project_json(name, now):
    """NProjectManager.projectJson (the emulator's copy of ProjectInstance's fields)."""
    m = {"uuid": str(uuid.uuid4()), "last_modified": now, "create_time": now, "version": "4.0.0.0", "name": name,
         "owner": "ADMIN", "status": "ENABLED", "create_time_utc": now, "default_database": "DEFAULT",
         "description": "", "maintain_model_type": "MANUAL_MAINTAIN", "override_kylin_properties": {},
         "segment_config": {}}
    return json.dumps(m, separators=(",", ":")).encode()


def kylin_content(name, now):
    """CompressionUtils.compress: "GZIP" + a zlib stream at level 1 (kylin.metadata.compress.enabled=true)."""
    return b"GZIP" + zlib.compress(project_json(name, now), 1)


class Stack:
    def __init__(self, root, member_extra=None, emu_props=None):
        """member_extra: raftnode keys for every member (over tests/kylin_cluster's, e.g.
        raft.kylin.timeout-ms); emu_props: kylin.properties keys over its EMU_PROPS."""
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.pg = None
        self.kc = None
        self.member_extra = dict(member_extra or {})
        self.emu_props = dict(_kc.EMU_PROPS)
        self.emu_props.update(emu_props or {})

    def start(self, log=print):
        self.pg = PostgresServer(os.path.join(self.root, "pg")).start()
        log(f"PostgreSQL 15 on 127.0.0.1:{self.pg.port} (pid {self.pg.pid}, data {self.pg.data}), "
            f"database kylin, tables {PREFIX} and {PREFIX}_epoch")
        self.kc = KylinCluster(os.path.join(self.root, "k"), JAR, self.pg, PREFIX)
        if self.member_extra:
            initial = ",".join(f"{x.id}={x.raft_addr}" for x in self.cluster.nodes.values())
            for x in self.cluster.nodes.values():
                x.extra.update(self.member_extra)
                x.write_conf(initial_cluster=initial)
        self.kc.start_emu = self.start_emu
        self.kc.start()
        return self

    def start_emu(self, i, wait=True):
        """KylinCluster.start_emu with this stack's emulator settings."""
        e = _kc.Emu(JAR, self.pg, PREFIX, self.kc.root, props=self.emu_props, port=self.kc.ports[i - 1])
        self.kc.emus[i] = e
        return e.wait_ready() if wait else e

    # -- parts
    @property
    def cluster(self):
        return self.kc.cluster

    @property
    def emus(self):
        return self.kc.emus

    def ctl(self, *args, **kw):
        return self.cluster.ctl(*args, **kw)

    def emu_pid(self, i):
        return self.emus[i].proc.pid

    def live_emus(self):
        return {i: e for i, e in self.emus.items() if e.alive()}

    # -- Kylin side
    def create_projects_http(self, names):
        """POST /emu/projects on emulator 1 (routed to the _global owner; Kylin's own SQL and
        encoding, then updateEpoch([name]) there)."""
        e = self.emus[1]
        for n in names:
            st, body = e.post("/emu/projects", {"name": n})
            if st != 200 and "DUPLICATE" not in json.dumps(body):
                raise RuntimeError(f"POST /emu/projects {n}: {st} {body}")

    def create_projects_sql(self, names):
        """Bulk: the rows Kylin's createProject writes into <identifier> (key
        /_global/project/NAME.json, GZIP+zlib content, ts, mvcc 0), in one transaction."""
        import psycopg2.extras
        now = int(time.time() * 1000)
        rows = [(f"/_global/project/{n}.json", kylin_content(n, now), now, 0) for n in names]
        c = self.pg.connect()
        try:
            with c.cursor() as cur:
                psycopg2.extras.execute_values(
                    cur, f"INSERT INTO {PREFIX} (meta_table_key, meta_table_content, meta_table_ts, meta_table_mvcc)"
                    " VALUES %s ON CONFLICT DO NOTHING", rows, page_size=1000)
            c.commit()
        finally:
            c.close()

    def add_to_quorum(self, names, batch=500):
        for i in range(0, len(names), batch):
            part = names[i:i + batch]
            rc, out, err = self.ctl("project", "add", *part, json_out=False, timeout_ms=20000)
            if rc != 0 and "exist" not in (out + err).lower():
                raise RuntimeError(f"raftctl project add: {rc} {err.strip()}")

    # -- views
    def quorum(self):
        """{project: (owner engine id or None, owner identity, epoch)}, as the leader has it after
        a barrier (--consistent): a follower may not have applied the last decision yet, and the
        demo would then call a state in step that is about to change."""
        rc, out, err = self.ctl("project", "list", "--consistent", timeout_ms=20000)
        if rc != 0:
            raise RuntimeError(f"raftctl project list: {err.strip()}")
        return {p["name"]: (p["owner"], p.get("owner_identity") or "-", p["epoch"]) for p in out}

    def table(self):
        """{epoch_target: (current_epoch_owner, epoch_id)} from <identifier>_epoch."""
        rows = self.pg.query(f"SELECT epoch_target, current_epoch_owner, epoch_id FROM {PREFIX}_epoch")
        return {r[0]: (r[1] or "", r[2]) for r in rows}

    def reports(self):
        out = {}
        for i, e in self.live_emus().items():
            try:
                out[i] = e.report()
            except OSError:
                pass
        return out

    def identities(self, reps=None):
        """{identity: emulator index} of the live emulators."""
        reps = self.reports() if reps is None else reps
        return {r["identity"]: i for i, r in reps.items()}

    def table_writes(self):
        """n_tup_ins + n_tup_upd + n_tup_del of <identifier>_epoch (pg_stat_user_tables)."""
        rows = self.pg.query("SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relname = %s",
                             (f"{PREFIX}_epoch",))
        return int(rows[0][0]) if rows else 0

    def emu_writes(self):
        return sum(int(r.get("writes", 0)) for r in self.reports().values())

    # -- stop, by PID
    def close(self, log=print):
        if self.kc is not None:
            for i, e in self.emus.items():
                if e.alive():
                    log(f"stopping Kylin emulator {i} (pid {e.proc.pid})")
                    e.proc.send_signal(signal.SIGTERM)
            for e in self.emus.values():
                try:
                    e.proc.wait(timeout=15)
                except Exception:
                    e.kill()
            pids = [x.proc.pid for x in self.cluster.nodes.values() if x.alive()]
            if pids:
                log(f"stopping raftnode members (pids {' '.join(map(str, pids))})")
            self.cluster.close()
        if self.pg is not None and self.pg.pid is not None:
            log(f"stopping PostgreSQL (pid {self.pg.pid})")
            self.pg.stop()


__all__ = ["Stack", "PREFIX", "JAR", "wait_for", "kylin_content"]
