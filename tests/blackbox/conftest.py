"""Black-box harness: starts the real chorusd (and, in cluster mode, its own PostgreSQL 15
and Redis 7 on loopback) and gives tests HTTP clients for it.

Environment:
  CHORUS_BIN       the server binary (default build-asan/chorusd under the repository root)
  CHORUS_BACKENDS  embedded (SQLite in a temp CHORUS_DATA_DIR, in-process kv; the default)
                   or cluster (PostgreSQL + Redis + ClickHouse started here, stopped at the
                   end; the shared chorusd ships its event log to ClickHouse)

Every chorusd started here writes stderr to a file; the instance must exit 0 within 15 s of
SIGTERM, and the session fails if any of those files holds a sanitizer report.
"""
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import stripe_double as stripe_double_mod
from client import Client

try:  # Debian's python3-psycopg2 (scripts/deps.sh test): one connection instead of a psql per call
    import psycopg2
    import psycopg2.extensions
except ImportError:
    psycopg2 = None

# The contract check of the suite's recorded traffic (issue 14): see contract_plugin.py.
pytest_plugins = ["contract_plugin"]

REPO = Path(__file__).resolve().parents[2]
_bin = Path(os.environ.get("CHORUS_BIN") or "build-asan/chorusd")
CHORUS_BIN = _bin if _bin.is_absolute() else REPO / _bin
MODE = os.environ.get("CHORUS_BACKENDS", "embedded")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
CLICKHOUSE_BIN = Path("/usr/sbin/clickhouse-server")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

_STDERR_FILES = []  # every chorusd stderr file of this session, checked at the end
# The session's Stripe test double (stripe_double.py) and the settings every chorusd gets.
_STRIPE = {"double": None, "error": None, "env": {}}
_lock = threading.Lock()


def pytest_configure(config):
    if MODE not in ("embedded", "cluster"):
        raise pytest.UsageError(f"CHORUS_BACKENDS must be embedded or cluster, not {MODE!r}")
    config.addinivalue_line("markers", "cluster_only: needs CHORUS_BACKENDS=cluster")


def pytest_make_parametrize_id(config, val, argname):
    """Short, readable test ids for long parametrized strings."""
    if isinstance(val, str) and len(val) > 24:
        return f"{val[:8]!r}..x{len(val)}"
    return None


# The slowest test files, slowest first (from "slowest test files" at the end of a run of
# each half; the order matters, not the figures). Under pytest-xdist (scripts/blackbox.sh)
# they are collected first, so that each is handed to a worker early and the run does not
# end with one worker still on a long file while the other idles (--dist loadfile hands
# out whole files in collection order). A file missing here only costs balance.
# From the "slowest test files" line of a cluster-half run (suite17, 2026-12-05, load 10-24,
# two workers), then the first estimate's files that line did not name. test_market_late.py
# (368 s there) was missing from the estimate and could be handed out last.
SLOWEST_FIRST = [
    "test_market_late.py", "test_contract.py", "test_feed_fanout.py", "test_presence_leftovers.py",
    "test_market_faults.py", "test_profiles.py", "test_signals.py", "test_readiness.py",
    "test_market_roles.py", "test_ws_cluster.py", "test_retention.py", "test_notifications.py",
    "test_refresh_reuse.py", "test_backend_failure.py", "test_seed_lab.py",
    "test_service.py", "test_kv_degraded.py", "test_hydrate_cache.py", "test_reactions.py",
    "test_deadlines.py", "test_consumer_lag.py", "test_stripe_double.py", "test_hashtags.py",
    "test_auth.py", "test_comments.py", "test_chat.py", "test_seed.py", "test_idempotency.py",
    "test_content.py", "test_unit_backends.py",
]


def pytest_collection_modifyitems(session, config, items):
    if not hasattr(config, "workerinput"):
        return  # one process: the usual order
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    first = {}
    for i, item in enumerate(items):
        first.setdefault(item.path.name, i)
    # stable: files keep their order among themselves, tests their order within a file
    items.sort(key=lambda it: (rank.get(it.path.name, len(rank)), first[it.path.name]))


def pytest_report_header(config):
    return f"chorusd: {CHORUS_BIN}  backends: {MODE}"


# ---- helpers ---------------------------------------------------------------------------

def free_port():
    """A port that was free a moment ago. Racy (another process can take it before it is
    used): chorusd is started on port 0 instead (CHORUS_PORT_FILE); servers that cannot
    report their port (PostgreSQL, Redis, ClickHouse) retry with another one (BIND_RETRIES)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BIND_RETRIES = 5  # first starts of a backend that lost its port to another process


def _in_use(*texts):
    return any("Address already in use" in t for t in texts)


def sanitizer_reports(path):
    """Lines of a stderr file that carry a sanitizer report."""
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return []
    return [ln for ln in text.splitlines() if any(m in ln for m in SANITIZER_MARKERS)]


def tail(path, n=40):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return "<no file>"


def base_env():
    """The environment every chorusd (and chorusd subcommand) gets: the caller's minus any
    CHORUS_* variable, plus the test settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS_")}
    env.update({
        "CHORUS_PWHASH_MEMLIMIT": "8388608",
        "CHORUS_PWHASH_OPSLIMIT": "1",
        "CHORUS_LOG_LEVEL": "warn",
        "CHORUS_THREADS": "2",
        # the listings' tests check Stripe's amount rules of several currencies (the default,
        # usd alone, is tested by test_market_currencies.py)
        "CHORUS_MARKET_CURRENCIES": "usd,eur,gbp,jpy,kwd,bhd",
    })
    env.update(_STRIPE["env"])  # CHORUS_STRIPE_* pointing at the session's Stripe double
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    return env


def require_binary():
    if not CHORUS_BIN.exists():
        pytest.fail(f"chorusd binary {CHORUS_BIN} does not exist (build it, or set CHORUS_BIN)",
                    pytrace=False)


def wait_tcp(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


# ---- backends (cluster mode) -----------------------------------------------------------

class Postgres:
    """A private PostgreSQL 15 cluster under a temp dir, run as user postgres (initdb
    refuses root). stop()/start() keep the port and the data."""

    def __init__(self, root):
        self.root = Path(root) / "pg"
        self.root.mkdir()
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.sock.mkdir()
        self.log = self.root / "postgres.log"
        shutil.chown(self.root, "postgres", "postgres")
        shutil.chown(self.sock, "postgres", "postgres")
        os.chmod(Path(root), 0o755)
        self.port = free_port()
        self.running = False
        self._started = False
        self._dbs = itertools.count(1)
        self._conns = {}  # dbname -> idle psycopg2 connections (psql())
        self._conn_lock = threading.RLock()

    def _pg(self, *args, timeout=120):
        cmd = ["runuser", "-u", "postgres", "--", *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}\n"
                               f"{tail(self.log)}")
        return p

    def init(self):
        self._pg(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "chorus",
                 "-E", "UTF8", "--locale=C", "--no-sync")

    def start(self):
        """Starts the server; the first start takes another port if its was taken meanwhile
        (later ones keep it: chorusd instances hold its URL)."""
        for attempt in range(BIND_RETRIES):
            opts = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                    f"-c max_connections=200")
            try:
                self._pg(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                         "-t", "60", "-o", opts, "start")
                break
            except RuntimeError as e:
                if self._started or attempt + 1 == BIND_RETRIES or not _in_use(str(e)):
                    raise
                self.port = free_port()
        self._started = True
        self.running = True

    def stop(self):
        self.close_connections()
        self._pg(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60",
                 "stop")
        self.running = False

    def url(self, dbname="postgres"):
        return f"postgres://chorus@127.0.0.1:{self.port}/{dbname}"

    def psql(self, sql, dbname="postgres"):
        """Runs sql (one or more statements, autocommit) on dbname; returns what `psql -Atc`
        prints for its rows: one line per row, columns joined by '|', NULL as '', values
        in the server's text form. One psycopg2 connection per database and session (a
        psql process per call costs a fork and a connection); psql when psycopg2 is absent."""
        if psycopg2 is None:
            return self._psql_process(sql, dbname)
        for attempt in (1, 2):
            conn = self._take(dbname)
            try:
                with conn.cursor() as cur:
                    cur.execute(sql)
                    rows = cur.fetchall() if cur.description is not None else []
                self._give(dbname, conn)
                return "".join("|".join("" if v is None else v for v in r) + "\n" for r in rows)
            except psycopg2.Error as e:
                self._give(dbname, conn)
                # Lost before it ran (a restart, pg_terminate_backend): once more on a new one.
                if conn.closed and attempt == 1 and isinstance(e, psycopg2.OperationalError):
                    continue
                raise RuntimeError(f"psql {sql!r} failed: {e}") from None

    def _take(self, dbname):
        """An idle connection to dbname (a new one when all are busy: calls from threads
        never wait for each other, as psql processes would not)."""
        with self._conn_lock:
            idle = self._conns.setdefault(dbname, [])
            while idle:
                conn = idle.pop()
                if not conn.closed:
                    return conn
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="chorus", dbname=dbname,
                                connect_timeout=10, application_name="chorus-tests")
        conn.autocommit = True
        with conn.cursor() as cur:  # every value in the server's text form, as psql prints it
            cur.execute("SELECT oid FROM pg_type")
            oids = tuple(r[0] for r in cur.fetchall())
        psycopg2.extensions.register_type(psycopg2.extensions.new_type(oids, "TEXT_AS_IS", lambda v, _c: v),
                                          conn)
        return conn

    def _give(self, dbname, conn):
        """Back to the idle list, as if the next call were a new psql session: no
        transaction left open, no SET; dropped when that fails."""
        if not conn.closed:
            try:
                if conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                    conn.rollback()
                with conn.cursor() as cur:
                    cur.execute("DISCARD ALL")
            except psycopg2.Error:
                conn.close()
        if not conn.closed:
            with self._conn_lock:
                self._conns.setdefault(dbname, []).append(conn)

    def close_connections(self):
        with self._conn_lock:
            for idle in self._conns.values():
                for conn in idle:
                    conn.close()
            self._conns.clear()

    def _psql_process(self, sql, dbname):
        p = subprocess.run([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port),
                            "-U", "chorus", "-d", dbname, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"psql {sql!r} failed: {p.stderr}")
        return p.stdout

    def new_database(self):
        name = f"chorus_t{os.getpid()}_{next(self._dbs)}"
        with _tallied("CREATE DATABASE (PostgreSQL) for a dedicated chorusd"):
            self.psql(f"CREATE DATABASE {name}")
        return name


# one Redis database per server that asks for its own storage, for the whole session: the
# cluster half starts some 300 such servers (256 ran out once the marketplace and gateway
# tests grew); an empty database costs Redis a few hundred bytes
REDIS_DATABASES = 2048

class Redis:
    """A private redis-server without persistence; stop()/start() keep the port (and lose
    the data, as a crashed cache would)."""

    def __init__(self, root):
        self.dir = Path(root) / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.proc = None
        self.log = self.dir / "redis.log"
        self._started = False
        self._dbs = itertools.count(1)

    def start(self):
        """Starts the server; the first start takes another port if its was taken meanwhile
        (later ones keep it: chorusd instances hold its URL)."""
        for attempt in range(BIND_RETRIES):
            try:
                return self._start_once()
            except RuntimeError as e:
                if self._started or attempt + 1 == BIND_RETRIES or not _in_use(str(e)):
                    raise
                self.port = free_port()

    def _start_once(self):
        log_from = self.log.stat().st_size if self.log.exists() else 0
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--logfile", str(self.log),
             "--databases", str(REDIS_DATABASES)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                raise RuntimeError(f"redis-server exited: {self.log.read_text(errors='replace')[log_from:]}")
            try:
                # Ours, not another process's Redis on a port taken meanwhile.
                if self.command("PING") == "+PONG" and self._pid() == self.proc.pid:
                    self._started = True
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING")

    def _pid(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"INFO server\r\n")
            buf = b""
            while b"process_id:" not in buf or not buf.split(b"process_id:", 1)[1].count(b"\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    return None
                buf += chunk
            return int(buf.split(b"process_id:", 1)[1].split(b"\r\n", 1)[0])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def command(self, *args, db=0):
        """Sends one command (inline RESP) and returns the first reply line."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            payload = b""
            if db:
                payload += f"SELECT {db}\r\n".encode()
            payload += (" ".join(args) + "\r\n").encode()
            s.sendall(payload)
            buf = b""
            want = 2 if db else 1
            while buf.count(b"\r\n") < want:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
            return buf.split(b"\r\n")[want - 1].decode()

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}" + (f"/{db}" if db else "")

    def new_db(self):
        db = next(self._dbs)
        if db >= REDIS_DATABASES:
            raise RuntimeError("out of redis databases")
        self.command("FLUSHDB", db=db)
        return db


class ClickHouse:
    """A private clickhouse-server (Debian's 18.16) with its own config.xml/users.xml, data
    and logs under a temp dir, HTTP and native ports free on loopback, run as the current
    user (root in CI; the package's own user is only needed for /var/lib/clickhouse).
    stop()/start() keep the ports and the data."""

    CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{dir}/server.log</log><errorlog>{dir}/server.err.log</errorlog>
    <size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <timezone>UTC</timezone>
</yandex>
"""
    USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""

    def __init__(self, root):
        self.dir = Path(root) / "clickhouse"
        self.dir.mkdir()
        self.http_port = free_port()
        self.tcp_port = free_port()
        self.proc = None
        self.config = self.dir / "config.xml"
        self.config.write_text(self.CONFIG.format(dir=self.dir, http_port=self.http_port,
                                                  tcp_port=self.tcp_port))
        (self.dir / "users.xml").write_text(self.USERS)
        self.log = self.dir / "server.err.log"
        self._started = False

    @staticmethod
    def available():
        return CLICKHOUSE_BIN.exists()

    def start(self):
        """Starts the server; the first start takes other ports if its were taken meanwhile
        (later ones keep them: chorusd instances hold its URL)."""
        for attempt in range(BIND_RETRIES):
            try:
                return self._start_once()
            except RuntimeError as e:
                if self._started or attempt + 1 == BIND_RETRIES or not _in_use(str(e)):
                    raise
                self.http_port, self.tcp_port = free_port(), free_port()
                self.config.write_text(self.CONFIG.format(dir=self.dir, http_port=self.http_port,
                                                          tcp_port=self.tcp_port))

    def _start_once(self):
        self._out = open(self.dir / "stdout.log", "ab")
        self.proc = subprocess.Popen([str(CLICKHOUSE_BIN), f"--config-file={self.config}"],
                                     cwd=self.dir, stdout=self._out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"clickhouse-server exited {self.proc.returncode}: "
                                   f"{tail(self.dir / 'stdout.log')}\n{tail(self.log)}")
            try:
                if self.query("SELECT 1").strip() == "1" and self.proc.poll() is None:
                    self._started = True
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"clickhouse-server did not answer: {tail(self.log)}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "_out", None) and not self._out.closed:
            self._out.close()

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def query(self, sql, database=None, timeout=10):
        """Runs one statement over HTTP; returns the answer text (raises OSError when the
        server is down, RuntimeError when it refuses)."""
        import urllib.error
        import urllib.request
        url = f"http://127.0.0.1:{self.http_port}/"
        if database:
            url += f"?database={database}"
        req = urllib.request.Request(url, data=sql.encode(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"clickhouse: {sql!r}: {e.code} {e.read().decode(errors='replace')}")

    def url(self, database="chorus"):
        return f"http://127.0.0.1:{self.http_port}/{database}"


class Backends:
    def __init__(self, root):
        self.root = Path(root)
        self.pg = None
        self.redis = None
        self.clickhouse = None

    def start(self):
        if MODE != "cluster":
            return
        self.pg = Postgres(self.root)
        self.pg.init()
        self.pg.start()
        self.redis = Redis(self.root)
        self.redis.start()
        if ClickHouse.available():  # scripts/deps.sh test installs it; without it its tests skip
            self.clickhouse = ClickHouse(self.root)
            self.clickhouse.start()

    def stop(self):
        errors = []
        for b in (self.clickhouse, self.redis, self.pg):
            if b is not None and b.running:
                try:
                    with _timed(f"stopping {type(b).__name__}"):
                        b.stop()
                except Exception as e:  # keep stopping the others
                    errors.append(e)
        if errors:
            raise errors[0]

    def storage_env(self, dedicated, data_dir):
        """CHORUS_* storage settings for one chorusd. dedicated=True gives the instance
        its own PostgreSQL database and Redis db so its state (rate-limit windows, ...) is
        its own."""
        env = {"CHORUS_DATA_DIR": str(data_dir)}
        if MODE == "cluster":
            dbname = self.pg.new_database() if dedicated else "postgres"
            env["CHORUS_DB"] = self.pg.url(dbname)
            env["CHORUS_REDIS"] = self.redis.url(self.redis.new_db() if dedicated else 0)
            if not dedicated and self.clickhouse is not None:
                env["CHORUS_CLICKHOUSE"] = self.clickhouse.url()
        return env


# ---- chorusd ---------------------------------------------------------------------------

class Server:
    """One chorusd process."""

    _n = itertools.count(1)

    def __init__(self, root, storage_env, extra_env=None, name="chorusd"):
        self.name = f"{name}-{next(Server._n)}"
        self.dir = Path(root) / self.name
        self.dir.mkdir(parents=True)
        self.storage_env = dict(storage_env)
        self.extra_env = dict(extra_env or {})
        self.port = None
        self.proc = None
        self.stderr_path = self.dir / "stderr.log"
        self.stdout_path = self.dir / "stdout.log"
        self.returncode = None
        with _lock:
            _STDERR_FILES.append(self.stderr_path)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def client(self):
        return Client(self.base_url)

    def env(self):
        env = base_env()
        env.update(self.storage_env)
        # Port 0: the kernel picks a free port and chorusd writes it to the port file (no
        # window in which another process can take a port picked here).
        env["CHORUS_LISTEN"] = "127.0.0.1:0"
        env["CHORUS_PORT_FILE"] = str(self.port_path)
        env.update(self.extra_env)
        return env

    @property
    def port_path(self):
        return self.dir / "port"

    def start(self, wait=True):
        """Starts the process and waits until it listens (self.port); with wait, until
        /readyz answers 200. wait=False returns with port None if it exits first."""
        require_binary()
        Path(self.storage_env.get("CHORUS_DATA_DIR", self.dir)).mkdir(parents=True, exist_ok=True)
        self.port = None
        self.port_path.unlink(missing_ok=True)
        self.returncode = None
        self._out = open(self.stdout_path, "ab")
        self._err = open(self.stderr_path, "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([str(CHORUS_BIN)], env=self.env(), cwd=self.dir,
                                     stdout=self._out, stderr=self._err)
        self.wait_port(must=wait)
        if wait:
            self.wait_ready()
            _TALLY.add("chorusd start (until /readyz answers 200)", time.monotonic() - t0)
        return self

    def wait_port(self, timeout=START_TIMEOUT, must=True):
        """Until chorusd has written the port it listens on (CHORUS_PORT_FILE); sets
        self.port. If it exits first: AssertionError, or (must=False) port stays None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.port = int(self.port_path.read_text())
                return self.port
            except (FileNotFoundError, ValueError):
                pass
            if self.proc.poll() is not None:
                if not must:
                    return None
                self._close_files()
                raise AssertionError(f"{self.name} exited with {self.proc.returncode} before "
                                     f"listening; stderr:\n{tail(self.stderr_path)}")
            time.sleep(0.02)
        raise AssertionError(f"{self.name} did not listen within {timeout}s; "
                             f"stderr:\n{tail(self.stderr_path)}")

    def wait_ready(self, timeout=START_TIMEOUT, full=False):
        """Until /readyz answers 200; with full, until it says "ready" (not "degraded": every
        backend back, not only the database)."""
        import http.client
        if self.port is None:
            self.wait_port(timeout)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._close_files()
                raise AssertionError(f"{self.name} exited with {self.proc.returncode} during "
                                     f"start-up; stderr:\n{tail(self.stderr_path)}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/readyz")
                r = c.getresponse()
                body = r.read()
                c.close()
                last = (r.status, body[:200])
                if r.status == 200 and (not full or json.loads(body).get("status") == "ready"):
                    return
            except OSError as e:
                last = repr(e)
            time.sleep(0.05)
        raise AssertionError(f"{self.name} not ready within {timeout}s (last: {last}); "
                             f"stderr:\n{tail(self.stderr_path)}")

    def signal(self, sig):
        self._signalled = True
        self.proc.send_signal(sig)

    def stop(self, timeout=STOP_TIMEOUT, check=True):
        """SIGTERM, then wait; asserts a clean exit 0 and no sanitizer report."""
        if self.proc is None:
            return self.returncode
        killed = False
        exited_early = self.proc.poll() is not None and not getattr(self, "_signalled", False)
        if self.proc.poll() is None:
            t0 = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                killed = True
            _TALLY.add("chorusd stop (SIGTERM until exit, leak check included)", time.monotonic() - t0)
        self.returncode = self.proc.returncode
        self.proc = None
        self._close_files()
        if check:
            reports = sanitizer_reports(self.stderr_path)
            assert not exited_early, (f"{self.name} exited on its own (status {self.returncode}) "
                                      f"before it was stopped; stderr:\n{tail(self.stderr_path)}")
            assert not killed, (f"{self.name} did not exit within {timeout}s of SIGTERM; "
                                f"stderr:\n{tail(self.stderr_path)}")
            assert not reports, (f"{self.name}: sanitizer report in {self.stderr_path}:\n"
                                 + tail(self.stderr_path, 80))
            assert self.returncode == 0, (f"{self.name} exited {self.returncode} after SIGTERM; "
                                          f"stderr:\n{tail(self.stderr_path)}")
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self._close_files()

    def _close_files(self):
        for f in (getattr(self, "_out", None), getattr(self, "_err", None)):
            if f is not None and not f.closed:
                f.close()


def run_chorusd(args, env, timeout=20, cwd=None):
    """Runs a chorusd subcommand to completion; returns CompletedProcess (text). Its
    stderr is also checked for sanitizer reports at the end of the session."""
    require_binary()
    p = subprocess.run([str(CHORUS_BIN), *args], env=env, capture_output=True, text=True,
                       timeout=timeout, cwd=cwd)
    with _lock:
        fd, path = tempfile.mkstemp(prefix="chorusd-cmd-", suffix=".stderr", dir=_SESSION_DIR)
        with os.fdopen(fd, "w") as f:
            f.write(p.stderr)
        _STDERR_FILES.append(Path(path))
    return p


_SESSION_DIR = None
_KEPT_DIRS = []  # the session's temp dir when kept (printed again by an xdist controller)
_FINAL_REPORTS = None
_SESSION_ERRORS = []  # failures of session-scoped teardown (shared server exit)
_SLOW_TEARDOWN = []   # (what, seconds) of session teardown steps slower than SLOW_TEARDOWN_S
SLOW_TEARDOWN_S = 5.0


class _Tally:
    """What the harness itself spends, per kind of step (chorusd starts and stops, new
    PostgreSQL databases): printed at the end of the session ("harness time"), so that the
    suite's fixed costs show next to pytest's per-test durations."""

    def __init__(self):
        self.steps = {}  # what -> [count, seconds]
        self.lock = threading.Lock()

    def add(self, what, seconds):
        with self.lock:
            c = self.steps.setdefault(what, [0, 0.0])
            c[0] += 1
            c[1] += seconds

    def merge(self, steps):
        for what, (n, secs) in steps.items():
            with self.lock:
                c = self.steps.setdefault(what, [0, 0.0])
                c[0] += n
                c[1] += secs


_TALLY = _Tally()


class _tallied:
    """Adds the time of the block to _TALLY under what."""

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        self.t0 = time.monotonic()

    def __exit__(self, *exc):
        _TALLY.add(self.what, time.monotonic() - self.t0)


class _timed:
    """Records a session teardown step that takes longer than SLOW_TEARDOWN_S (reported at
    the end: the last test's teardown duration is otherwise one opaque number)."""

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        self.t0 = time.monotonic()

    def __exit__(self, *exc):
        took = time.monotonic() - self.t0
        if took > SLOW_TEARDOWN_S:
            _SLOW_TEARDOWN.append((self.what, took))


# ---- fixtures --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def workdir():
    global _SESSION_DIR
    d = tempfile.mkdtemp(prefix="chorus-blackbox-")
    os.chmod(d, 0o755)
    _SESSION_DIR = d
    yield Path(d)
    # Scan the logs before the directory goes; keep it when there is something to read.
    global _FINAL_REPORTS
    _FINAL_REPORTS = _all_reports()
    if os.environ.get("CHORUS_KEEP_TMP") or _FINAL_REPORTS or _SESSION_ERRORS:
        print(f"\nkept {d}")
        _KEPT_DIRS.append(d)
    else:
        # Removed by a detached `rm -rf` that the run does not wait for: with some 300
        # PostgreSQL databases (~470 files each) the dir holds ~150,000 files, and removing
        # them took 11 s at the end of every cluster session. Every server that wrote there
        # has stopped by now (backends and chorusd fixtures depend on this one).
        with _timed("removing the session's temp dir"):
            try:
                subprocess.Popen(["rm", "-rf", "--", d], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            except OSError:
                shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def _stripe_session(workdir):
    """Starts the Stripe test double once per session, before any chorusd (each gets its
    settings through base_env()); at the end, any spec violation it recorded fails the
    session (from the spec extract shipped in tests/stripe_double). Without node the double is
    off and the tests that need it skip (fail under CHORUS_CONTRACT=require, as `make test` runs)."""
    why = stripe_double_mod.missing_requirements()
    if why:
        _STRIPE["error"] = why
        yield
        return
    d = stripe_double_mod.StripeDouble(workdir)
    try:
        d.start()
    except AssertionError as e:
        _STRIPE["error"] = str(e)
        _STRIPE["broken"] = True
        yield
        return
    _STRIPE.update(double=d, env=d.chorus_env())
    yield
    try:
        left = d.violations()
    except Exception as e:  # the double died: say so
        left = [{"message": f"the Stripe double did not answer at the end: {e}"}]
    with _timed("stopping the Stripe double"):
        d.stop()
    if left:
        lines = [f"{v.get('method', '')} {v.get('path', '')}: {v.get('message')} (param {v.get('param')}; "
                 f"params {json.dumps(v.get('params'))[:300]})" for v in left[:20]]
        _SESSION_ERRORS.append(f"the Stripe double recorded {len(left)} request(s) that break Stripe's spec "
                               f"(tests/stripe_double, log {d.log_path}):\n" + "\n".join(lines))
    if "stripe-double: BUG" in d.log():  # the whole log, not its tail
        _SESSION_ERRORS.append(f"the Stripe double failed on a request (a bug of the double): {d.log_path}")


@pytest.fixture(autouse=True)
def _stripe_violations_fail_the_test():
    """Fails the test during which the Stripe double recorded a spec violation or a bug of
    its own (kind double_bug), not only the session at the end. A test that breaks the
    spec on purpose takes its own violations (StripeDouble.take_violations(request_ids))."""
    d = _STRIPE.get("double")
    try:
        start = d.last_violation_seq() if d is not None else None
    except Exception:  # the double died: the session check says so
        start = None
    yield
    if start is None:
        return
    try:
        new = d.violations(after=start)
    except Exception:
        return
    if new:
        lines = [f"{v.get('kind', 'spec')}: {v.get('method', '')} {v.get('path', '')}: {v.get('message')} "
                 f"(param {v.get('param')}; request {v.get('request_id')})" for v in new[:10]]
        pytest.fail(f"the Stripe double recorded {len(new)} violation(s) during this test "
                    f"(log {d.log_path}):\n" + "\n".join(lines), pytrace=False)


@pytest.fixture
def stripe_double(_stripe_session):
    """The session's Stripe test double (stripe_double.StripeDouble: .url, .secret_key,
    .webhook_secret and the /_double control calls). Faults left by an earlier test are
    cleared; objects, events and webhook settings stay until a test calls reset()."""
    d = _STRIPE["double"]
    if d is None:
        if _STRIPE.get("broken") or os.environ.get("CHORUS_CONTRACT") == "require":
            pytest.fail(f"the Stripe double is not running: {_STRIPE['error']}", pytrace=False)
        pytest.skip(f"the Stripe double is not running: {_STRIPE['error']}")
    d.clear_faults()
    return d


@pytest.fixture(scope="session")
def backends(workdir, _stripe_session):
    b = Backends(workdir)
    try:
        b.start()
    except Exception:
        b.stop()
        raise
    yield b
    b.stop()


@pytest.fixture(scope="session")
def server(workdir, backends):
    """The shared chorusd of the session (default settings)."""
    s = Server(workdir, backends.storage_env(False, workdir / "data-main"), name="main")
    s.start()
    _SHARED.append(s)
    yield s
    # Not raised here: a failing session-fixture teardown can run inside pytest's own
    # sessionfinish (after -x) and crash it. Recorded, reported and failing the session.
    try:
        with _timed("stopping the shared chorusd"):
            s.stop()
    except AssertionError as e:
        _SESSION_ERRORS.append(str(e))


@pytest.fixture
def api(server):
    if server.proc is None or server.proc.poll() is not None:
        rc = server.proc.returncode if server.proc is not None else server.returncode
        msg = (f"the shared chorusd is gone (exit status {rc}; negative = killed by that "
               f"signal); stderr:\n{tail(server.stderr_path)}")
        if not any(m.startswith("the shared chorusd is gone") for m in _SESSION_ERRORS):
            _SESSION_ERRORS.append(msg)
        pytest.fail(msg, pytrace=False)
    return server.client()


@pytest.fixture
def user(api):
    return api.register()


@pytest.fixture
def other(api):
    return api.register()


@pytest.fixture
def start_server(workdir, backends):
    """Factory: start_server(env={...}, storage=None) starts a dedicated chorusd with
    overridden settings and its own fresh storage (or `storage`, the storage_env of an
    earlier instance, to restart on the same data). Stopped (and checked) at test end."""
    started = []

    def start(env=None, storage=None, name="dedicated", wait=True):
        n = len(started)
        st = storage if storage is not None else backends.storage_env(True, workdir / f"data-{name}-{os.getpid()}-{time.monotonic_ns()}-{n}")
        if storage is not None and "CHORUS_NODE_ID" not in (env or {}):
            # a replica of running storage is another node: its own node id, as the README asks
            # of operators (two nodes at 0 can make the same id in the same millisecond)
            env = {**(env or {}), "CHORUS_NODE_ID": str(100 + n)}
        s = Server(workdir, st, env, name=name)
        started.append(s)
        s.start(wait=wait)
        return s

    yield start
    errors = []
    for s in started:
        try:
            s.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def fresh_storage(workdir, backends):
    """Factory: storage settings (CHORUS_DATA_DIR, and in cluster mode a new PostgreSQL
    database and Redis db) for a dedicated chorusd; pass to start_server(storage=...)."""
    def make():
        return backends.storage_env(True, workdir / f"data-fresh-{time.monotonic_ns()}")
    return make


def _need_cluster():
    if MODE != "cluster":
        pytest.skip("needs CHORUS_BACKENDS=cluster")


_SHARED = []  # the session's shared Server, once started


def _wait_shared_ready(timeout=30, full=False):
    """After a backend outage: wait until the shared chorusd says ready again (as a load
    balancer would before routing to it); with full, until every backend is back (a Redis
    outage leaves the database ready and /readyz "degraded")."""
    if _SHARED and _SHARED[0].proc is not None:
        try:
            _SHARED[0].wait_ready(timeout, full=full)
            if full:
                # The timeline store's breaker probes Redis on its own (1 s): let it see it too,
                # so that the next test's first read makes a timeline again.
                time.sleep(2 * 1.0)
        except AssertionError as e:
            _SESSION_ERRORS.append(f"shared chorusd not ready after a backend outage: {e}")


@pytest.fixture
def redis_ctl(backends):
    """The session's Redis; stop()/start() it on the same port. Restarted at test end if
    the test left it stopped."""
    _need_cluster()
    yield backends.redis
    if not backends.redis.running:
        backends.redis.start()
    _wait_shared_ready(full=True)


@pytest.fixture
def pg_ctl(backends):
    """The session's PostgreSQL; stop()/start() it on the same port. Restarted at test end
    if the test left it stopped."""
    _need_cluster()
    yield backends.pg
    if not backends.pg.running:
        backends.pg.start()
    _wait_shared_ready()


@pytest.fixture
def clickhouse_ctl(backends):
    """The session's ClickHouse (cluster mode); stop()/start() it on the same ports.
    Restarted at test end if the test left it stopped."""
    _need_cluster()
    if backends.clickhouse is None:
        pytest.skip("clickhouse-server is not installed (scripts/deps.sh test)")
    yield backends.clickhouse
    if not backends.clickhouse.running:
        backends.clickhouse.start()


@pytest.fixture
def chorusd_env(workdir, backends):
    """Factory for the environment of a chorusd subcommand with fresh storage."""
    def make(extra=None):
        env = base_env()
        env.update(backends.storage_env(True, workdir / f"cmd-{time.monotonic_ns()}"))
        Path(env["CHORUS_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
        env.update(extra or {})
        return env
    return make


# ---- session-wide sanitizer verdict ----------------------------------------------------

def _all_reports():
    out = []
    with _lock:
        files = list(_STDERR_FILES)
    for f in files:
        reports = sanitizer_reports(f)
        if reports:
            out.append((f, reports))
    return out


def _is_xdist_worker(config):
    return hasattr(config, "workerinput")


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    reports = _FINAL_REPORTS if _FINAL_REPORTS is not None else _all_reports()
    # Under pytest-xdist (scripts/blackbox.sh runs a half in two workers) a worker's session
    # verdict and summary never reach the terminal: each worker hands its sanitizer reports,
    # session errors and slow teardown steps to the controller (pytest_testnodedown), which
    # prints them and fails the run as a single session would.
    if _is_xdist_worker(config):
        config.workeroutput["chorus_session"] = {
            "worker": config.workerinput.get("workerid", "?"),
            "sanitizer": [(str(f), lines, tail(f, 60)) for f, lines in reports],
            "errors": list(_SESSION_ERRORS),
            "slow_teardown": list(_SLOW_TEARDOWN),
            "tally": dict(_TALLY.steps),
            "kept": list(_KEPT_DIRS),
        }
    else:  # after the workers' own, on an xdist controller
        config._chorus_sanitizer = (getattr(config, "_chorus_sanitizer", [])
                                    + [(str(f), lines, tail(f, 60)) for f, lines in reports])
    if (reports or _SESSION_ERRORS or _WORKER_FAILED) and session.exitstatus == 0:
        session.exitstatus = 1


_WORKER_FAILED = []  # (controller) workers whose session failed after their tests passed


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """(pytest-xdist controller) Takes a finished worker's session verdict (see
    pytest_sessionfinish). A worker that crashed without one is reported by xdist itself."""
    out = getattr(node, "workeroutput", None) or {}
    got = out.get("chorus_session")
    if got is None:
        return
    worker = got["worker"]
    _SLOW_TEARDOWN.extend((f"[{worker}] {what}", took) for what, took in got["slow_teardown"])
    _TALLY.merge(got.get("tally", {}))
    _KEPT_DIRS.extend(f"{d} ({worker})" for d in got.get("kept", []))
    _SESSION_ERRORS.extend(f"[{worker}] {e}" for e in got["errors"])
    node.config._chorus_sanitizer = getattr(node.config, "_chorus_sanitizer", []) + [
        (f"[{worker}] {f}", lines, text) for f, lines, text in got["sanitizer"]]
    if got["errors"] or got["sanitizer"]:
        _WORKER_FAILED.append(worker)


_FILE_SECONDS = {}  # test file -> seconds of its tests (setup, call and teardown), every worker's


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    slowest = sorted(_FILE_SECONDS.items(), key=lambda kv: -kv[1])[:15]
    if slowest:
        terminalreporter.write_line("slowest test files (seconds of their tests, setup and teardown included): "
                                    + ", ".join(f"{Path(p).name} {secs:.0f}" for p, secs in slowest))
    for what, (n, secs) in sorted(_TALLY.steps.items()):
        terminalreporter.write_line(f"harness time: {what}: {n} x, {secs:.1f}s in all "
                                    f"({secs / n:.2f}s each; all workers)")
    for what, took in _SLOW_TEARDOWN:
        terminalreporter.write_line(f"session teardown: {what} took {took:.1f}s")
    if config.pluginmanager.hasplugin("dsession"):  # an xdist controller: its workers' kept dirs
        for d in _KEPT_DIRS:
            terminalreporter.write_line(f"kept {d}")
    for err in _SESSION_ERRORS:
        terminalreporter.section("shared chorusd shutdown (session FAILED)", red=True)
        terminalreporter.write_line(err)
    reports = getattr(config, "_chorus_sanitizer", None)
    if reports:
        terminalreporter.section("sanitizer reports (session FAILED)", red=True)
        for f, lines, text in reports:
            terminalreporter.write_line(f"{f}:")
            for ln in lines[:20]:
                terminalreporter.write_line(f"    {ln}")
            terminalreporter.write_line(text)
