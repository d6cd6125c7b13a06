"""Real PostgreSQL 15 and MariaDB 10.11 servers for the metastore-mirror tests.

Each server lives in its own temporary directory, listens on 127.0.0.1 on a free port and on a
unix socket inside that directory, and is stopped by PID at teardown. Nothing sleeps blindly:
readiness and shutdown are polled with a deadline. Both offer one interface to the tests:
url(), query(), columns(), primary_key(), install_audit(), audit(), stop(), start(), pause(),
resume().
"""
import os
import shutil
import signal
import subprocess
import time

from harness import free_ports, wait_for

PG_BIN = "/usr/lib/postgresql/15/bin"
MARIADB_INSTALL = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"

USER = "kylin"
PASSWORD = "Pw-9f3k!secret"   # checked to appear in no log and no raftctl output
DATABASE = "kylin"


def _pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except FileNotFoundError:
        return False


def _children(pid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                if ppid == pid:
                    kids.append(int(d))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass
    return kids


def _wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


class PostgresServer:
    kind = "postgresql"

    def __init__(self, root):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o755)
        self.data = os.path.join(self.root, "data")
        self.port = free_ports(1)[0]
        self.pid = None
        self.log = os.path.join(self.root, "server.log")

    def _run_as_postgres(self, *args, timeout=60):
        p = subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True,
                           timeout=timeout)
        assert p.returncode == 0, f"{args} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    def start(self):
        if not os.path.exists(self.data):
            # Local (socket) connections trust; TCP connections need the password.
            self._run_as_postgres(f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres", "-E", "UTF8",
                                  "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
            first = True
        else:
            first = False
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        self._run_as_postgres(f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", self.log, "-o", opts, "-w", "-t", "60",
                              "start")
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            self.pid = int(f.readline())
        wait_for(lambda: self._ping(), 30, "PostgreSQL to accept connections")
        if first:
            self.query(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'", db="postgres")
            self.query(f"CREATE DATABASE {DATABASE} OWNER {USER}", db="postgres")
        return self

    def _ping(self):
        self.query("SELECT 1", db="postgres")
        return True

    def stop(self, sig=signal.SIGINT):
        """Fast shutdown (SIGINT), or SIGKILL; waits until the postmaster is gone."""
        if self.pid is None:
            return
        if _pid_alive(self.pid):
            for k in _children(self.pid) + [self.pid]:
                try:
                    os.kill(k, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            os.kill(self.pid, sig)
            if not _wait_gone(self.pid, 30):
                os.kill(self.pid, signal.SIGKILL)
                _wait_gone(self.pid, 10)
        if sig == signal.SIGKILL:
            # Backends die with the postmaster; shared memory goes with the last one.
            for _ in range(100):
                if not os.path.exists(os.path.join(self.data, "postmaster.pid")):
                    break
                try:
                    os.unlink(os.path.join(self.data, "postmaster.pid"))
                except FileNotFoundError:
                    pass
        self.pid = None

    def _signal_all(self, sig):
        for k in [self.pid] + _children(self.pid):
            try:
                os.kill(k, sig)
            except ProcessLookupError:  # a backend that just ended
                pass

    def pause(self):
        """SIGSTOP to the postmaster and every backend: the server hangs, sockets stay open."""
        self._signal_all(signal.SIGSTOP)

    def resume(self):
        if self.pid is not None:
            self._signal_all(signal.SIGCONT)

    def url(self, prefix, socket=False):
        if socket:
            return f"postgresql://{USER}:{PASSWORD}@/{DATABASE}?host={self.root}&prefix={prefix}"
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}?prefix={prefix}"

    def kylin_url(self, prefix):
        return (f"{prefix}@jdbc,driverClassName=org.postgresql.Driver,"
                f"url=jdbc:postgresql://127.0.0.1:{self.port}/{DATABASE},username={USER},password={PASSWORD}")

    def connect(self, db=DATABASE):
        import psycopg2
        c = psycopg2.connect(host=self.root, port=self.port, user="postgres", dbname=db, connect_timeout=5)
        c.autocommit = True
        return c

    def query(self, sql, params=None, db=DATABASE):
        c = self.connect(db)
        try:
            cur = c.cursor()
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
        finally:
            c.close()

    def table_exists(self, table):
        return bool(self.query("SELECT 1 FROM information_schema.tables WHERE table_name = %s", (table,)))

    def columns(self, table):
        """[(name, type, length)] in column order; type as information_schema says it."""
        rows = self.query("SELECT column_name, data_type, character_maximum_length FROM information_schema.columns"
                          " WHERE table_name = %s ORDER BY ordinal_position", (table,))
        names = {"integer": "int", "character varying": "varchar", "bigint": "bigint", "bytea": "bytea",
                 "smallint": "smallint"}
        return [(n, names.get(t, t), ln) for n, t, ln in rows]

    def primary_key(self, table):
        rows = self.query("SELECT kcu.column_name FROM information_schema.table_constraints tc"
                          " JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name"
                          " AND kcu.table_name = tc.table_name"
                          " WHERE tc.table_name = %s AND tc.constraint_type = 'PRIMARY KEY'"
                          " ORDER BY kcu.ordinal_position", (table,))
        return [r[0] for r in rows]

    def install_audit(self, prefix):
        """A row per write into any of PREFIX's tables, with the writing member (the mirror
        names itself raftnode-mirror-ID in application_name)."""
        self.query("CREATE TABLE IF NOT EXISTS audit (seq bigserial PRIMARY KEY, member text, tbl text,"
                   " op text)")
        self.query("CREATE OR REPLACE FUNCTION audit_fn() RETURNS trigger SECURITY DEFINER LANGUAGE plpgsql AS $$"
                   " BEGIN INSERT INTO audit (member, tbl, op) VALUES (current_setting('application_name'),"
                   " TG_TABLE_NAME, TG_OP); RETURN NULL; END $$")
        for t in ("epoch", "raft_member", "raft_history", "raft_sync"):
            self.query(f"DROP TRIGGER IF EXISTS {prefix}_{t}_audit ON {prefix}_{t}")
            self.query(f"CREATE TRIGGER {prefix}_{t}_audit AFTER INSERT OR UPDATE OR DELETE ON {prefix}_{t}"
                       f" FOR EACH ROW EXECUTE FUNCTION audit_fn()")

    def audit(self, prefix, after=0):
        """[(seq, member id, table, op)] of PREFIX's tables with seq > AFTER."""
        if not self.table_exists("audit"):
            return []
        rows = self.query("SELECT seq, member, tbl, op FROM audit WHERE seq > %s AND tbl LIKE %s ORDER BY seq",
                          (after, prefix.lower() + "\\_%"))
        return [(s, m.rsplit("-", 1)[-1], t, o) for s, m, t, o in rows]

    def install_slow_history(self, prefix, project, seconds):
        """Inserting PROJECT's history row takes SECONDS: a batch can be caught mid-way."""
        self.query(f"CREATE OR REPLACE FUNCTION slow_fn() RETURNS trigger LANGUAGE plpgsql AS $$"
                   f" BEGIN PERFORM pg_sleep({float(seconds)}); RETURN NEW; END $$")
        self.query(f"CREATE TRIGGER {prefix}_slow BEFORE INSERT ON {prefix}_raft_history FOR EACH ROW"
                   f" WHEN (NEW.project = '{project}') EXECUTE FUNCTION slow_fn()")

    def history_insert_running(self, prefix, member):
        """True while member MEMBER's mirror runs an insert into PREFIX's history table."""
        return bool(self.query("SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND state = 'active'"
                               " AND query LIKE %s", (f"raftnode-mirror-{member}", f"INSERT INTO {prefix}_raft_history%")))

    def write_counters(self, prefix):
        """Rows inserted + updated + deleted in PREFIX's tables, as PostgreSQL counts them."""
        self.query("SELECT pg_stat_force_next_flush()")
        rows = self.query("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"
                          " WHERE relname LIKE %s", (prefix.lower() + "\\_%",))
        return int(rows[0][0])

    def mirror_sessions(self):
        return [r[0] for r in self.query("SELECT application_name FROM pg_stat_activity"
                                         " WHERE application_name LIKE 'raftnode-mirror-%%'")]


class MariaDBServer:
    kind = "mysql"

    def __init__(self, root):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.data = os.path.join(self.root, "data")
        self.sock = os.path.join(self.root, "mysqld.sock")
        self.port = free_ports(1)[0]
        self.proc = None
        self.log = os.path.join(self.root, "server.log")

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self):
        first = not os.path.exists(self.data)
        if first:
            p = subprocess.run([MARIADB_INSTALL, "--no-defaults", f"--datadir={self.data}", "--user=root",
                                "--auth-root-authentication-method=normal", "--skip-test-db"],
                               capture_output=True, text=True, timeout=120)
            assert p.returncode == 0, p.stdout + p.stderr
        log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [MARIADBD, "--no-defaults", f"--datadir={self.data}", f"--socket={self.sock}", f"--port={self.port}",
             "--bind-address=127.0.0.1", "--user=root", f"--pid-file={self.root}/mysqld.pid", "--skip-log-bin",
             "--innodb-flush-log-at-trx-commit=0", "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
             "--skip-name-resolve", "--max-connections=50"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        wait_for(lambda: self._ping(), 60, "MariaDB to accept connections")
        if first:
            self.query(f"CREATE DATABASE {DATABASE}", db=None)
            for host in ("%", "localhost"):
                self.query(f"CREATE USER '{USER}'@'{host}' IDENTIFIED BY '{PASSWORD}'", db=None)
                self.query(f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'{host}'", db=None)
        return self

    def _ping(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"mariadbd exited with {self.proc.returncode}; see {self.log}")
        self.query("SELECT 1", db=None)
        return True

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGCONT)
        os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        if self.pid is not None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def url(self, prefix, socket=False):
        if socket:
            return f"mysql://{USER}:{PASSWORD}@/{DATABASE}?socket={self.sock}&prefix={prefix}"
        return f"mysql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}?prefix={prefix}"

    def kylin_url(self, prefix):
        return (f"{prefix}@jdbc,driverClassName=com.mysql.cj.jdbc.Driver,"
                f"url=jdbc:mysql://127.0.0.1:{self.port}/{DATABASE}?useSSL=false,username={USER},"
                f"password={PASSWORD}")

    def connect(self, db=DATABASE):
        import pymysql
        return pymysql.connect(unix_socket=self.sock, user="root", database=db, autocommit=True,
                               connect_timeout=5)

    def query(self, sql, params=None, db=DATABASE):
        c = self.connect(db)
        try:
            cur = c.cursor()
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []
        finally:
            c.close()

    def table_exists(self, table):
        return bool(self.query("SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                               (DATABASE, table)))

    def columns(self, table):
        rows = self.query("SELECT column_name, data_type, character_maximum_length FROM information_schema.columns"
                          " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position", (DATABASE, table))
        return [(n, t, ln) for n, t, ln in rows]

    def primary_key(self, table):
        rows = self.query("SELECT column_name FROM information_schema.key_column_usage WHERE table_schema = %s"
                          " AND table_name = %s AND constraint_name = 'PRIMARY' ORDER BY ordinal_position",
                          (DATABASE, table))
        return [r[0] for r in rows]

    def install_audit(self, prefix):
        """A row per write into PREFIX's tables, with the writing member (@raftnode_member, set
        by the mirror in its session)."""
        self.query("CREATE TABLE IF NOT EXISTS audit (seq bigint AUTO_INCREMENT PRIMARY KEY, member varchar(32),"
                   " tbl varchar(64), op varchar(8))")
        for t in ("epoch", "raft_member", "raft_history", "raft_sync"):
            for op in ("INSERT", "UPDATE", "DELETE"):
                name = f"{prefix}_{t}_a{op[0].lower()}"
                self.query(f"DROP TRIGGER IF EXISTS {name}")
                self.query(f"CREATE TRIGGER {name} AFTER {op} ON {prefix}_{t} FOR EACH ROW"
                           f" INSERT INTO audit (member, tbl, op) VALUES (@raftnode_member, '{prefix}_{t}', '{op}')")

    def audit(self, prefix, after=0):
        if not self.table_exists("audit"):
            return []
        return [(s, str(m), t, o) for s, m, t, o in
                self.query("SELECT seq, member, tbl, op FROM audit WHERE seq > %s AND tbl LIKE %s ORDER BY seq",
                           (after, prefix + "\\_%"))]

    def install_slow_history(self, prefix, project, seconds):
        self.query(f"CREATE TRIGGER {prefix}_slow BEFORE INSERT ON {prefix}_raft_history FOR EACH ROW"
                   f" BEGIN IF NEW.project = '{project}' THEN SET @slept = SLEEP({float(seconds)}); END IF; END")

    def history_insert_running(self, prefix, member):
        # Inside a trigger the processlist shows the trigger's statement: the slow one sleeping.
        # Only the leader inserts history rows, and only this test's trigger sleeps so.
        return bool(self.query("SELECT 1 FROM information_schema.processlist WHERE state = 'User sleep'"
                               " AND info LIKE %s", ("SET @slept = SLEEP%",)))

    def write_counters(self, prefix):
        return None  # MariaDB keeps no per-table write counters by default: the audit triggers count

    def mirror_sessions(self):
        return None
