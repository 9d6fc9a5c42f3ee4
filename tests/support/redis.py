"""Debian's redis-server for the tests, on a 127.0.0.1 port, nothing persisted, stopped by
its pid: the shared prediction store, for real."""

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def redis_server(folder: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """redis-server on 127.0.0.1:`port` until the block ends (it can be stopped inside it)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "redis.log").open("ab") as log:
        process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
             "--appendonly", "no", "--dir", str(folder)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((folder / "redis.log").read_text())
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)
