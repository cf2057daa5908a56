"""Child-process servers for the tests and the benchmarks (bench/common.py imports these): a free port, and
waiting until a server answers."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_answers(url: str, proc: subprocess.Popen | None, name: str, limit_s: float = 300.0) -> None:
    """Poll ``url`` until it answers 200; RuntimeError if ``proc`` (``name``) exits first or ``limit_s`` pass."""
    start = time.perf_counter()
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{name} exited ({proc.returncode}) before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
        if time.perf_counter() - start > limit_s:
            raise RuntimeError(f"{name} did not answer {url} in {limit_s:.0f} s")
