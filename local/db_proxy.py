"""A TCP proxy in front of the local PostgreSQL that can fail the way a database does.

The functions reach it through the same DB_HOST / DB_PORT they read on AWS (`env()`), so the
faults happen on the wire, outside our code (local.faults arms them):

* `refuse(count)`: the next `count` connections are answered, after the startup packet, with a
  FATAL ErrorResponse of SQLSTATE 57P03 (cannot_connect_now, what a server that is starting up
  or shutting down sends) and closed, as a database that is down would;
* `drop_commit(marker, statement)`: instead of forwarding the COMMIT of a transaction in which
  a statement matching `statement` was sent with `marker` in its text or in one of its bound
  parameters, close both sockets. The server sees the client vanish and rolls back; the client
  sees the connection drop.

Everything else is passed through byte for byte. Client -> server messages are read as the
frontend/backend protocol defines them (https://www.postgresql.org/docs/16/protocol-message-formats.html):
the untyped startup packets (SSLRequest and GSSENCRequest are answered by the server, 'N' here
locally, then the StartupMessage follows), then typed messages: simple Query 'Q' (psycopg's
BEGIN / COMMIT / ROLLBACK), Parse 'P' (statement name and text) and Bind 'B' (statement name and
parameters). A connection that turns to TLS is passed through unread. Server -> client bytes
are never read.
"""
from __future__ import annotations

import re
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
TLS_HANDSHAKE = 0x16  # first byte of a TLS record carrying a ClientHello
REFUSED_SQLSTATE = "57P03"  # cannot_connect_now
_TX_START = re.compile(rb"^\s*(BEGIN|START\s+TRANSACTION)\b", re.IGNORECASE)
_TX_COMMIT = re.compile(rb"^\s*(COMMIT|END)\b", re.IGNORECASE)
_TX_ROLLBACK = re.compile(rb"^\s*(ROLLBACK|ABORT)\b", re.IGNORECASE)

FaultListener = Callable[[str, str], None]


@dataclass
class _CommitDrop:
    marker: bytes
    statement: re.Pattern[bytes]
    times: Optional[int]  # None: every time
    fired: int = 0


@dataclass
class _Connection:
    """What the proxy knows about one client connection: its prepared statements and the
    current transaction's matches."""

    statements: dict[bytes, bytes] = field(default_factory=dict)  # name -> text ("" is the unnamed one)
    matches: dict[int, list[str]] = field(default_factory=dict)  # id(rule) -> the matching texts/parameters


class PgProxy:
    """Listens on `listen_host`:`port` (0: a free port) and forwards each connection to the
    server at `upstream_host`:`upstream_port` (a directory as host: its Unix socket, as libpq
    reads it). Use as a context manager, or start() / stop().

    `on_fault(kind, detail)` is called for each fault that fires: ("db:refused", upstream) or
    ("db:dropped", the marked parameters, comma-separated).
    """

    def __init__(self, upstream_host: str, upstream_port: int, listen_host: str = "127.0.0.1", port: int = 0,
                 on_fault: Optional[FaultListener] = None) -> None:
        self.upstream_host, self.upstream_port = upstream_host, int(upstream_port)
        self.listen_host, self.port = listen_host, port
        self.on_fault = on_fault
        self._lock = threading.Lock()
        self._refuse = 0
        self._drops: list[_CommitDrop] = []
        self._listener: Optional[socket.socket] = None
        self._sockets: set[socket.socket] = set()
        self._stopped = threading.Event()

    # -- faults ----------------------------------------------------------------------------
    def refuse(self, count: int) -> None:
        """Answer the next `count` connections with a FATAL error (the database is down)."""
        with self._lock:
            self._refuse += count

    def drop_commit(self, marker: str, statement: str, times: Optional[int] = 1) -> None:
        """Drop the connection instead of forwarding the COMMIT of a transaction that sent a
        statement matching the regular expression `statement` (case-insensitive) with `marker`
        in its text or parameters (`times` times; None: every time)."""
        pattern = re.compile(statement.encode("utf-8"), re.IGNORECASE | re.DOTALL)
        with self._lock:
            self._drops.append(_CommitDrop(marker.encode("utf-8"), pattern, times))

    @property
    def upstream(self) -> str:
        return f"{self.upstream_host}:{self.upstream_port}"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> tuple[str, int]:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.listen_host, self.port))
        listener.listen(128)
        self._listener = listener
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept, name=f"pg-proxy-{self.port}", daemon=True).start()
        return self.listen_host, self.port

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            _close(self._listener)
            self._listener = None
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            _close(sock)

    def __enter__(self) -> PgProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- plumbing --------------------------------------------------------------------------
    def _accept(self) -> None:
        listener = self._listener
        while not self._stopped.is_set() and listener is not None:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._track(client)
            threading.Thread(target=self._serve, args=(client,), name="pg-proxy-conn", daemon=True).start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _forget(self, *socks: socket.socket) -> None:
        with self._lock:
            for sock in socks:
                self._sockets.discard(sock)
        for sock in socks:
            _close(sock)

    def _take_refusal(self) -> bool:
        with self._lock:
            if self._refuse <= 0:
                return False
            self._refuse -= 1
            return True

    def _connect_upstream(self) -> socket.socket:
        if self.upstream_host.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(f"{self.upstream_host}/.s.PGSQL.{self.upstream_port}")
        else:
            sock = socket.create_connection((self.upstream_host, self.upstream_port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _serve(self, client: socket.socket) -> None:
        reader = _Reader(client)
        if self._take_refusal():
            self._refuse_connection(client, reader)
            return
        try:
            server = self._connect_upstream()
        except OSError:
            self._forget(client)
            return
        self._track(server)
        threading.Thread(target=self._pump, args=(server, client), name="pg-proxy-s2c", daemon=True).start()
        try:
            self._client_to_server(reader, client, server)
        except OSError:
            pass
        finally:
            self._forget(server, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        """Server -> client, unread."""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._forget(source, sink)

    def _refuse_connection(self, client: socket.socket, reader: _Reader) -> None:
        try:
            while True:
                packet = reader.startup_packet()
                if packet is None:
                    return
                code = struct.unpack("!I", packet[4:8])[0]
                if code in (SSL_REQUEST, GSSENC_REQUEST):
                    client.sendall(b"N")  # no encryption: the StartupMessage follows in the clear
                    continue
                if code != CANCEL_REQUEST:
                    client.sendall(_error_response("FATAL", REFUSED_SQLSTATE,
                                                   "the database is down: connection refused (fault injected)"))
                    self._fired("db:refused", self.upstream)
                return
        except OSError:
            pass
        finally:
            self._forget(client)

    def _client_to_server(self, reader: _Reader, client: socket.socket, server: socket.socket) -> None:
        # Startup: untyped packets until the StartupMessage (or a cancel request, then EOF).
        while True:
            if reader.peek_byte() == TLS_HANDSHAKE:  # the server said 'S': TLS from here, unreadable
                _relay(reader, server)
                return
            packet = reader.startup_packet()
            if packet is None:
                return
            server.sendall(packet)
            code = struct.unpack("!I", packet[4:8])[0]
            if code not in (SSL_REQUEST, GSSENC_REQUEST):
                break
        conn = _Connection()
        while True:
            message = reader.message()
            if message is None:
                return
            kind, body = message[0:1], message[5:]
            if self._inspect(conn, kind, body):
                return  # dropped: the COMMIT never reaches the server
            server.sendall(message)

    def _inspect(self, conn: _Connection, kind: bytes, body: bytes) -> bool:
        """Track the transaction; True when this message is a COMMIT to drop instead of forwarding."""
        if kind == b"Q":
            text = body.rstrip(b"\0")
            if _TX_START.match(text) or _TX_ROLLBACK.match(text):
                conn.matches.clear()
                return False
            if _TX_COMMIT.match(text):
                return self._commit(conn)
            self._match(conn, text, [])
        elif kind == b"P":
            name, rest = _cstring(body, 0)
            text, _ = _cstring(body, rest)
            conn.statements[name] = text
            if _TX_COMMIT.match(text):
                return self._commit(conn)
            if _TX_START.match(text) or _TX_ROLLBACK.match(text):
                conn.matches.clear()
        elif kind == b"B":
            _, pos = _cstring(body, 0)  # portal
            name, pos = _cstring(body, pos)
            text = conn.statements.get(name)
            if text is not None:
                self._match(conn, text, _bind_parameters(body, pos))
        return False

    def _match(self, conn: _Connection, text: bytes, params: list[bytes]) -> None:
        with self._lock:
            drops = list(self._drops)
        for rule in drops:
            if not rule.statement.search(text):
                continue
            found = [p.decode("utf-8", "replace") for p in params if rule.marker in p]
            if not found and rule.marker in text:
                found = [rule.marker.decode("utf-8")]
            if found:
                conn.matches.setdefault(id(rule), []).extend(found)

    def _commit(self, conn: _Connection) -> bool:
        matched, conn.matches = conn.matches, {}
        if not matched:
            return False
        with self._lock:
            rule = next((r for r in self._drops if id(r) in matched and (r.times is None or r.fired < r.times)), None)
            if rule is None:
                return False
            rule.fired += 1
        self._fired("db:dropped", ",".join(matched[id(rule)]))
        return True

    def _fired(self, kind: str, detail: str) -> None:
        if self.on_fault is not None:
            self.on_fault(kind, detail)


class _Reader:
    """Buffered reads of whole protocol messages from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def _fill(self, size: int) -> bool:
        while len(self.buffer) < size:
            data = self.sock.recv(65536)
            if not data:
                return False
            self.buffer += data
        return True

    def _take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def peek_byte(self) -> Optional[int]:
        return self.buffer[0] if self._fill(1) else None

    def startup_packet(self) -> Optional[bytes]:
        """Int32 length (itself included), Int32 code, the rest."""
        if not self._fill(8):
            return None
        length = struct.unpack("!I", self.buffer[:4])[0]
        return self._take(length) if self._fill(length) else None

    def message(self) -> Optional[bytes]:
        """Byte1 type, Int32 length (itself included, the type not), the body."""
        if not self._fill(5):
            return None
        length = struct.unpack("!I", self.buffer[1:5])[0]
        return self._take(1 + length) if self._fill(1 + length) else None


def _relay(reader: _Reader, server: socket.socket) -> None:
    if reader.buffer:
        server.sendall(bytes(reader.buffer))
        reader.buffer.clear()
    while True:
        data = reader.sock.recv(65536)
        if not data:
            return
        server.sendall(data)


def _cstring(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.index(b"\0", pos)
    return data[pos:end], end + 1


def _bind_parameters(body: bytes, pos: int) -> list[bytes]:
    """The parameter values of a Bind message (from after the statement name); NULLs left out."""
    (formats,) = struct.unpack_from("!H", body, pos)
    pos += 2 + 2 * formats
    (count,) = struct.unpack_from("!H", body, pos)
    pos += 2
    values = []
    for _ in range(count):
        (length,) = struct.unpack_from("!i", body, pos)
        pos += 4
        if length >= 0:
            values.append(body[pos:pos + length])
            pos += length
    return values


def _error_response(severity: str, sqlstate: str, message: str) -> bytes:
    fields = b"".join(code + value.encode("utf-8") + b"\0"
                      for code, value in ((b"S", severity), (b"V", severity), (b"C", sqlstate), (b"M", message)))
    body = fields + b"\0"
    return b"E" + struct.pack("!I", 4 + len(body)) + body


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


__all__ = ["PgProxy", "REFUSED_SQLSTATE"]
