"""Cutting a process off the network without a reset, for the partition test and bench_runners.py.

A :class:`Namespace` is a network namespace joined to this machine by a veth pair; a process started in it
reaches this machine only through that pair, at ``namespace.address``. A :class:`Relay` on that address
forwards connections to a server listening elsewhere (PostgreSQL on 127.0.0.1). ``cut()`` takes this machine's
end of the pair down: every packet between the process and the relay is dropped and nobody is told, as when a
machine loses power or a network fails. ``heal()`` brings it back. Needs root and iproute2.

The relay stands in for the server's end of the connection: its connection to the server stays open and quiet,
as a lost client's does on the server, until it gives up on the client as the server does by a runner's session
settings (TCP keepalives and ``tcp_user_timeout``, see database.bound_runner_sessions), and closes it.
"""
import socket
import subprocess
import threading
import uuid

from csv_manager.stall import keepalives


class Relay:
    """Forwards each TCP connection made to (``host``, a free port) to ``target`` (host, port), both ways, in
    threads, giving up on a client silent for ``seconds`` as a runner's session does; ``close()`` ends them all."""

    def __init__(self, host, target, seconds):
        self.target = target
        self.seconds = seconds
        self.listener = socket.create_server((host, 0))
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            idle, interval, count = keepalives(self.seconds)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for option, value in ((socket.TCP_KEEPIDLE, idle), (socket.TCP_KEEPINTVL, interval),
                                  (socket.TCP_KEEPCNT, count), (socket.TCP_USER_TIMEOUT, self.seconds * 1000)):
                client.setsockopt(socket.IPPROTO_TCP, option, value)
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.listener.close()
        for end in self.sockets:
            try:
                end.shutdown(socket.SHUT_RDWR)  # close() alone leaves the connection open while a pump reads it
            except OSError:
                pass
            end.close()


class Namespace:
    """A network namespace joined to this one by a veth pair: this end 10.231.N.1, the namespace's 10.231.N.2.
    ``cut()`` takes this end down (packets are dropped, nobody is told), ``heal()`` brings it back."""

    def __init__(self):
        self.name = "csvm%s" % uuid.uuid4().hex[:8]
        self.outside, self.inside = "%so" % self.name, "%si" % self.name
        subnet = int(self.name[4:8], 16) % 250
        self.address, self.peer = "10.231.%d.1" % subnet, "10.231.%d.2" % subnet
        for command in (["netns", "add", self.name],
                        ["link", "add", self.outside, "type", "veth", "peer", "name", self.inside],
                        ["link", "set", self.inside, "netns", self.name],
                        ["addr", "add", self.address + "/30", "dev", self.outside],
                        ["link", "set", self.outside, "up"],
                        ["-n", self.name, "addr", "add", self.peer + "/30", "dev", self.inside],
                        ["-n", self.name, "link", "set", self.inside, "up"],
                        ["-n", self.name, "link", "set", "lo", "up"]):
            try:
                ip(*command)
            except subprocess.CalledProcessError:
                self.close()
                raise

    def cut(self):
        ip("link", "set", self.outside, "down")

    def heal(self):
        ip("link", "set", self.outside, "up")

    def command(self, *command):
        """``command`` (a list of arguments) run inside the namespace, in the same process (``ip`` execs it)."""
        return ["ip", "netns", "exec", self.name, *map(str, command)]

    def close(self):
        subprocess.run(["ip", "link", "del", self.outside], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)
