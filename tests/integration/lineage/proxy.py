"""A TCP proxy on 127.0.0.1 that a test can close and reopen, to cut a client off from a server.

Closing stops listening and drops every open connection, so the client sees
refused connections, as if the server were down, while the server itself keeps
running for everyone else.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading

log = logging.getLogger(__name__)


class TcpProxy:
    """Forward connections from a local port to `upstream` until closed."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self) -> TcpProxy:
        """Listen on a free port (or the previous one after `close`) and forward in background threads."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping.clear()
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="tcp-proxy-accept").start()
        return self

    def close(self) -> None:
        """Stop listening and drop every forwarded connection."""
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()

    def reopen(self) -> None:
        """Listen again on the same port."""
        self.start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True, name="tcp-proxy-pump").start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, server)
        selector.register(server, selectors.EVENT_READ, client)
        try:
            while not self._stopping.is_set():
                for key, _ in selector.select(timeout=0.5):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            selector.close()
            for connection in (client, server):
                connection.close()
