"""A TCP proxy that a test can cut, to make a server look down or hung without stopping it."""
import socket
import threading
from typing import Callable, List, Optional


class Proxy:
    """Forwards 127.0.0.1:<port> to a target port; `mode` is "up", "down" (refused) or "hang".

    `accepted` counts the client connections it took, so a test can see connections being reused.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.mode = "up"
        self._conns: List[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: Optional[socket.socket] = None
        self.accepted = 0
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]

    def start(self) -> "Proxy":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def set(self, mode: str) -> None:
        """"down" closes the port and every open connection; "hang" accepts and never answers, on
        new connections and on open ones (a kept-alive connection hangs too)."""
        self.mode = mode
        if mode == "down":
            if self._listener:
                try:
                    self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() thread (Linux)
                except OSError:
                    pass
                self._listener.close()
                self._listener = None
            self._close_all()
        elif self._listener is None:
            self.start()

    def stop(self) -> None:
        self.set("down")

    def _close_all(self) -> None:
        with self._lock:
            for c in self._conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(client)
                self.accepted += 1
            if self.mode == "hang":
                continue  # keep it open, never answer
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        pipe(src, dst, lambda: self.mode != "hang")


def pipe(src: socket.socket, dst: socket.socket, forward: Callable[[], bool] = lambda: True) -> None:
    """Copy `src` to `dst` (dropping what arrives while `forward()` is false) until either closes;
    then close both."""
    try:
        while data := src.recv(65536):
            if forward():
                dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
