"""A round-robin TCP load balancer for tests, standing in for nginx (deploy/nginx.conf) and a
Kubernetes Service (deploy/rasa.yaml).

Each client connection goes to the next backend; a backend that refuses the connection (a server
stopping or not started yet) is skipped for the next one, as nginx's `proxy_next_upstream error`
does. With `ready_path`, a backend whose readiness check fails (polled every `interval` seconds) is
passed over while another one is ready, as a Service leaves out a pod that is not ready. Nothing is
retried once a connection is made, so a request is never sent twice. Clients should send one
request per connection (`Connection: close`), as nginx does to its upstreams here.
"""
import itertools
import socket
import threading
import time
from collections import Counter
from typing import Dict, List, Optional

import requests

from tests.proxy import pipe


class Balancer:
    """127.0.0.1:<port> spread over `backends` (ports); `served` counts connections per backend."""

    def __init__(self, backends: List[int], ready_path: Optional[str] = None, interval: float = 0.1) -> None:
        self.backends, self.ready_path, self.interval = backends, ready_path, interval
        self.ready: Dict[int, bool] = {port: True for port in backends}
        self.served: Counter = Counter()
        self.refused = 0
        self._next = itertools.count()
        self._lock = threading.Lock()
        self._listener: Optional[socket.socket] = None
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Balancer":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, daemon=True).start()
        if self.ready_path:
            threading.Thread(target=self._watch, daemon=True).start()
        return self

    def _watch(self) -> None:
        while self._listener is not None:
            for port in self.backends:
                try:
                    ok = requests.get(f"http://127.0.0.1:{port}{self.ready_path}", timeout=1).status_code == 200
                except requests.RequestException:
                    ok = False
                self.ready[port] = ok
            time.sleep(self.interval)

    def stop(self) -> None:
        if self._listener:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() (Linux)
            except OSError:
                pass
            self._listener.close()
            self._listener = None

    def _connect(self) -> Optional[socket.socket]:
        """The next backend that takes the connection, trying each once."""
        first = next(self._next)
        turn = [self.backends[(first + i) % len(self.backends)] for i in range(len(self.backends))]
        for port in sorted(turn, key=lambda p: not self.ready[p]):  # the ready ones first
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                with self._lock:
                    self.refused += 1
                continue
            upstream.settimeout(None)
            with self._lock:
                self.served[port] += 1
            return upstream
        return None

    def _accept(self) -> None:
        listener = self._listener
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = self._connect()
        if upstream is None:
            client.close()  # no backend: the client sees the connection closed (nginx: 502)
            return
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        pipe(upstream, client)
