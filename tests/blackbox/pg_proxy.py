"""A TCP proxy in front of PostgreSQL (loopback only) that can lose the acknowledgement of
one COMMIT: when armed, the next COMMIT a client sends (simple query, or a prepared
statement whose text is COMMIT) is passed to the server, the server's whole answer up to
ReadyForQuery is read and dropped, and both sockets are closed. The transaction is then
committed on the server while the client sees its connection die: issue 10's lost ack.

Clients must connect with sslmode=disable and gssencmode=disable (the proxy parses the
plain protocol: one untyped startup message, then typed messages both ways)."""
import socket
import struct
import threading


def _read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def _read_typed(sock):
    head = _read_exact(sock, 5)
    (length,) = struct.unpack("!I", head[1:])
    return head[:1], head + _read_exact(sock, length - 4)


class PgProxy:
    def __init__(self, pg_port):
        self.pg_port = pg_port
        self.armed = False
        self.swallowed = 0
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self):
        with self._lock:
            self.armed = True

    def close(self):
        self._closed = True
        self._listener.close()
        for s in list(self._socks):
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.pg_port))
            self._socks += [client, server]
            conn = {"swallow": False, "commit_stmts": set(), "pending": False}
            threading.Thread(target=self._upstream, args=(client, server, conn), daemon=True).start()
            threading.Thread(target=self._downstream, args=(client, server, conn), daemon=True).start()

    def _take_commit(self, conn):
        """Whether this COMMIT is the one to lose (one-shot)."""
        with self._lock:
            if not self.armed:
                return False
            self.armed = False
            self.swallowed += 1
        conn["swallow"] = True
        return True

    def _upstream(self, client, server, conn):
        try:
            head = _read_exact(client, 4)
            (length,) = struct.unpack("!I", head)
            server.sendall(head + _read_exact(client, length - 4))
            while True:
                kind, msg = _read_typed(client)
                body = msg[5:]
                if kind == b"Q" and body.rstrip(b"\0").strip().upper() == b"COMMIT":
                    self._take_commit(conn)
                elif kind == b"P":
                    name, rest = body.split(b"\0", 1)
                    query = rest.split(b"\0", 1)[0]
                    if query.strip().upper() == b"COMMIT":
                        conn["commit_stmts"].add(name)
                elif kind == b"B":
                    stmt = body.split(b"\0", 2)[1]
                    conn["pending"] = stmt in conn["commit_stmts"]
                elif kind == b"S" and conn["pending"]:
                    conn["pending"] = False
                    self._take_commit(conn)
                server.sendall(msg)
        except (OSError, ConnectionError, ValueError, IndexError):
            pass
        finally:
            for s in (client, server):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _downstream(self, client, server, conn):
        try:
            while True:
                kind, msg = _read_typed(server)
                if conn["swallow"]:
                    if kind == b"Z":  # the COMMIT is done on the server; its answer is lost
                        break
                    continue
                client.sendall(msg)
        except (OSError, ConnectionError):
            pass
        finally:
            for s in (client, server):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
