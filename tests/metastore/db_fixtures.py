"""Session fixtures shared by every suite that needs real databases (tests/metastore,
tests/kylin, tests/kylin_cluster): one PostgreSQL 15 and one MariaDB server per session,
started on first use and stopped by PID at the end, and `db`, which runs a test once against
each. A conftest imports them: `from db_fixtures import server_root, db, stop_servers`."""
import os
import shutil
import tempfile

import pytest

from dbservers import MariaDBServer, PostgresServer

_servers = {}


@pytest.fixture(scope="session")
def server_root(tmp_path_factory):
    return tmp_path_factory.mktemp("dbservers")


def _server(kind, root):
    if kind not in _servers:
        if kind == "postgresql":
            # The postgres user must reach its directory: pytest's are private to root.
            _servers[kind] = PostgresServer(tempfile.mkdtemp(prefix="raftnode-pg-")).start()
        else:
            _servers[kind] = MariaDBServer(os.path.join(str(root), kind)).start()
    return _servers[kind]


@pytest.fixture(scope="session", autouse=True)
def stop_servers():
    yield
    for s in _servers.values():
        try:
            s.stop()
        except Exception as e:  # teardown must reach every server
            print(f"stopping {s.kind}: {e}")
        if s.kind == "postgresql":
            shutil.rmtree(s.root, ignore_errors=True)


@pytest.fixture(params=["postgresql", "mysql"])
def db(request, server_root):
    s = _server(request.param, server_root)
    if s.pid is None:  # a test stopped it and failed before starting it again
        s.start()
    yield s
    if s.pid is None:
        s.start()
    else:
        s.resume()
