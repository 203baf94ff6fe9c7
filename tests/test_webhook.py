"""The webhook client reads each answer to its end however the receiver frames it (a length, chunks, the end of
the connection, after 1xx answers), keeps the connection for the next post where HTTP allows, and tells a
failure: refused, closed mid-answer, not HTTP, not 2xx, too slow."""
import base64
import hashlib
import hmac
import socket
import threading

import pytest

from csv_manager.plugins.csv_watcher_db_plugin.webhook import DeliveryError, Webhook

pytestmark = pytest.mark.timeout(30)


class RawReceiver:
    """A TCP server that answers each request with the next of ``answers`` (bytes, or None to close the
    connection without answering) and records the requests (head, body) and how many connections it accepted."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d/hooks/csv?team=data" % self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while self.answers:
            connection, _ = self._listener.accept()
            self.connections += 1
            with connection, connection.makefile("rb") as stream:
                while self.answers:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = stream.readline()
                        if not line:
                            break
                        head += line
                    if not head:
                        break
                    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                      if line.lower().startswith(b"content-length:")))
                    self.requests.append((head.decode(), stream.read(length)))
                    answer = self.answers.pop(0)
                    if answer is None:
                        break
                    connection.sendall(answer)
                    framed = b"content-length" in answer.lower() or b"chunked" in answer
                    if b"Connection: close" in answer or not framed:
                        break

    def close(self):
        self._listener.close()


@pytest.fixture
def receiver_of():
    made = []

    def make(*answers):
        made.append(RawReceiver(answers))
        return made[-1]
    yield make
    for receiver in made:
        receiver.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_posts_are_signed_and_share_one_connection(receiver_of):
    receiver = receiver_of(OK, b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", OK)
    webhook = Webhook(receiver.url, "secret")
    for delivery in (7, 8, 9):
        webhook.send(b'{"id": %d}\n' % delivery, delivery)
    webhook.close()
    assert receiver.connections == 1
    head, body = receiver.requests[0]
    assert head.startswith("POST /hooks/csv?team=data HTTP/1.1\r\nHost: 127.0.0.1:")
    signature = "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert "X-CsvManager-Signature-256: %s\r\n" % signature in head
    assert "X-CsvManager-Delivery: 7\r\n" in head and "Content-Type: application/json\r\n" in head
    assert [body for _, body in receiver.requests] == [b'{"id": 7}\n', b'{"id": 8}\n', b'{"id": 9}\n']
    assert "Authorization" not in head


def test_a_user_and_password_in_the_url_are_sent_as_basic_authorization(receiver_of):
    receiver = receiver_of(OK)
    Webhook(receiver.url.replace("http://", "http://ci%40example:p%3Ass@"), "secret").send(b"{}", 1)
    assert "Authorization: Basic %s\r\n" % base64.b64encode(b"ci@example:p:ss").decode() in receiver.requests[0][0]


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: 1\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 202 Accepted\r\ncontent-length: 70000\r\n\r\n" + b"x" * 70000,
])
def test_each_framing_of_an_answer_is_read_to_its_end_and_the_connection_kept(receiver_of, answer):
    receiver = receiver_of(answer, OK)
    webhook = Webhook(receiver.url, "secret")
    webhook.send(b"{}", 1)
    webhook.send(b"{}", 2)
    webhook.close()
    assert (receiver.connections, len(receiver.requests)) == (1, 2)


@pytest.mark.parametrize("answer", [b"HTTP/1.0 200 OK\r\n\r\nbody until the end",
                                    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"])
def test_an_answer_that_ends_the_connection_is_followed_by_a_new_one(receiver_of, answer):
    receiver = receiver_of(answer, OK)
    webhook = Webhook(receiver.url, "secret")
    webhook.send(b"{}", 1)
    webhook.send(b"{}", 2)
    webhook.close()
    assert (receiver.connections, len(receiver.requests)) == (2, 2)


@pytest.mark.parametrize("answers, message", [
    ([b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"], "HTTP 500 Internal Server Error"),
    ([b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"], "HTTP 302 Found"),
    ([None], "cannot post to 127.0.0.1:%d: the receiver closed the connection"),
    ([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"], "closed the connection within the answer"),
    ([b"SSH-2.0-OpenSSH_9.2\r\n"], "not an HTTP answer: 'SSH-2.0-OpenSSH_9.2'"),
])
def test_a_post_not_received_is_an_error_naming_why(receiver_of, answers, message):
    receiver = receiver_of(*answers)
    webhook = Webhook(receiver.url, "secret")
    with pytest.raises(DeliveryError) as error:
        webhook.send(b"{}", 1)
    port = int(receiver.url.split(":")[2].split("/")[0])
    assert message.replace("%d", str(port)) in str(error.value)


def test_a_kept_connection_the_receiver_closed_while_idle_is_replaced_without_an_error(receiver_of):
    receiver = receiver_of(OK, None, OK)  # the second request finds the connection closed
    webhook = Webhook(receiver.url, "secret")
    webhook.send(b"{}", 1)
    webhook.send(b"{}", 2)
    webhook.close()
    assert (receiver.connections, [body for _, body in receiver.requests]) == (2, [b"{}", b"{}", b"{}"])


def test_a_refused_or_silent_receiver_is_an_error(receiver_of):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    silent = Webhook("http://127.0.0.1:%d/" % port, "secret", timeout=0.5)
    with pytest.raises(DeliveryError, match="cannot post to 127.0.0.1:%d: timed out" % port):
        silent.send(b"{}", 1)  # accepted by the kernel, never answered
    listener.close()
    with pytest.raises(DeliveryError, match="cannot post to 127.0.0.1:%d: Connection refused" % port):
        Webhook("http://127.0.0.1:%d/" % port, "secret").send(b"{}", 1)
