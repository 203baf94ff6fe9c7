"""Posts hook documents to a URL: a small HTTP/1.1 client over one kept-alive connection.

Not http.client: it parses every response's headers through the email package, which was a third of the time a
hook spent draining a backlog (benchmarks/bench_hooks.py: 753 versions a second against 1,437 for a plain loop
of posts). A webhook needs only the status of each answer and where its body ends, to skip it.
"""
import base64
import hashlib
import hmac
import socket
import ssl
import urllib.parse

from csv_manager import __version__

SIGNATURE_HEADER = "X-CsvManager-Signature-256"
#: How long a receiver may take to accept the connection, or to send each part of its answer.
TIMEOUT_SECONDS = 10
#: The longest status or header line read, and the most header lines: a receiver cannot make a runner hold more.
MAX_LINE = 65536
MAX_HEADERS = 100
PIECE = 65536


class DeliveryError(Exception):
    """A delivery that was not received: for a post, the connection failed or the answer was not a 2xx one."""


class Webhook:
    """Posts to ``url``, each body signed as GitHub signs its webhooks: SIGNATURE_HEADER is ``sha256=`` and the
    hex HMAC-SHA256 of the body with ``secret``. A user and password in the URL are sent as Basic
    authorization."""

    def __init__(self, url, secret, timeout=TIMEOUT_SECONDS):
        parts = urllib.parse.urlsplit(url)
        self._tls = parts.scheme == "https"
        self._address = (parts.hostname, parts.port or (443 if self._tls else 80))
        host = "[%s]" % parts.hostname if ":" in parts.hostname else parts.hostname
        self._host = host if parts.port is None else "%s:%d" % (host, parts.port)
        self._path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        self._authorization = ""
        if parts.username is not None:
            credentials = "%s:%s" % (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
            self._authorization = "Authorization: Basic %s\r\n" % base64.b64encode(credentials.encode()).decode()
        self._secret = secret.encode("ascii")
        self._timeout = timeout
        self._socket = self._stream = None

    def send(self, body, delivery):
        """POST ``body`` with ``delivery`` (the version's id) in X-CsvManager-Delivery; DeliveryError unless the
        answer is 2xx."""
        signature = "sha256=" + hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        request = ("POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: csv-manager/%s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\n%s: %s\r\nX-CsvManager-Delivery: %s\r\n%s\r\n" % (
                       self._path, self._host, __version__, len(body), SIGNATURE_HEADER, signature, delivery,
                       self._authorization))
        kept = self._socket is not None
        try:
            if not kept:
                self._connect()
            self._socket.sendall(request.encode("latin-1") + body)
            status, reason, keep_alive = self._answer()
        except (OSError, ValueError) as error:
            self.close()
            if kept and isinstance(error, ConnectionError):
                # A kept connection the receiver closed while idle (gunicorn keeps one 2 s): post again on a new
                # one. Had it received the post after all, this is a delivery again, with the same id.
                return self.send(body, delivery)
            reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
            raise DeliveryError("cannot post to %s:%d: %s" % (*self._address, reason))
        if not keep_alive:
            self.close()
        if not 200 <= status < 300:
            raise DeliveryError("HTTP %d %s" % (status, reason))

    def close(self):
        if self._socket is not None:
            self._stream.close()
            self._socket.close()
            self._socket = self._stream = None

    def _connect(self):
        connection = socket.create_connection(self._address, timeout=self._timeout)
        if self._tls:
            connection = ssl.create_default_context().wrap_socket(connection, server_hostname=self._address[0])
        self._socket, self._stream = connection, connection.makefile("rb")

    def _answer(self):
        """Read one answer (after any 1xx ones), its body skipped: (status, reason, whether the connection
        stays open)."""
        while True:
            version, status, reason = _status_line(self._line())
            headers = self._headers()
            if status >= 200:
                break
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._skip_chunks()
        elif "content-length" in headers:
            self._skip(int(headers["content-length"]))
        else:
            while self._stream.read(PIECE):  # the body ends with the connection
                pass
            keep_alive = False
        return status, reason, keep_alive

    def _line(self):
        line = self._stream.readline(MAX_LINE + 1)
        if not line:
            raise ConnectionError("the receiver closed the connection")
        if len(line) > MAX_LINE:
            raise ValueError("an answer line longer than %d bytes" % MAX_LINE)
        return line.decode("latin-1").rstrip("\r\n")

    def _headers(self):
        headers = {}
        for _ in range(MAX_HEADERS):
            line = self._line()
            if not line:
                return headers
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        raise ValueError("more than %d header lines" % MAX_HEADERS)

    def _skip(self, length):
        while length > 0:
            piece = self._stream.read(min(length, PIECE))
            if not piece:
                raise ConnectionError("the receiver closed the connection within the answer")
            length -= len(piece)

    def _skip_chunks(self):
        while True:
            size = int(self._line().split(";", 1)[0], 16)
            if size == 0:
                break
            self._skip(size + 2)  # the chunk and its line end
        self._headers()  # the trailers, up to the empty line


def _status_line(line):
    """(version, status, reason) of an HTTP status line; ValueError if it is not one."""
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError("not an HTTP answer: %r" % line[:80])
    return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""
