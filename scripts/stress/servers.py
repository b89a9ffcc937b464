"""The servers under test: gunicorn and one job worker (manage.py worker), each in a process group of its own.

Every process started here is in `Service.running` until it is killed, and
`Service.stop_all` (called on every way out of the run) kills what is left. On
Linux a server also gets SIGKILL if the stress run itself dies without cleaning up.
"""

import contextlib
import ctypes
import datetime
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from clients import Http

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
WORKERS = 4
WORKER_APP = "unionfunds-stress-worker"  # the worker's application_name in pg_stat_activity


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the process that started it dies."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: stop_all still runs on every ordinary way out
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Service:
    """A server process and its children (gunicorn's workers), as one process group."""

    running: list["Service"] = []

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path):
        self.name, self.command, self.env, self.log = name, command, env, log
        self.process: subprocess.Popen | None = None

    def start(self) -> "Service":
        with self.log.open("ab") as log:
            log.write(f"\n=== {datetime.datetime.now():%H:%M:%S} {' '.join(self.command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own: one killpg reaches gunicorn's workers
                preexec_fn=_die_with_parent,
            )
        Service.running.append(self)
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def send(self, number: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, number)

    def kill(self) -> None:
        """SIGKILL to the whole group, at once: no handler runs, nothing is flushed."""
        if self.process is None:
            return
        self.send(signal.SIGKILL)
        self.process.wait()
        if self in Service.running:
            Service.running.remove(self)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL whatever is left after ten seconds."""
        if self.process is None or self not in Service.running:
            return
        self.send(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self.kill()

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    @classmethod
    def stop_all(cls) -> None:
        for service in reversed(cls.running):
            service.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Servers:
    """gunicorn with WORKERS processes on a free port of 127.0.0.1, and one job worker (manage.py worker)."""

    env: dict[str, str]
    scratch: Path
    port: int = field(default_factory=free_port)
    web: Service | None = None
    worker: Service | None = None
    starts: int = 0

    def start(self) -> float:
        """Start both; returns the seconds until gunicorn answered."""
        self.starts += 1
        started = time.perf_counter()
        web = [PYTHON, "-m", "gunicorn", "unionfunds.wsgi:application", "--workers", str(WORKERS)]
        web += ["--bind", f"127.0.0.1:{self.port}", "--timeout", "300", "--graceful-timeout", "5"]
        web += ["--no-control-socket"]  # not gunicorn 27's default ~/.gunicorn/gunicorn.ctl, which others use
        self.web = Service("gunicorn", web, self.env, self.scratch / "gunicorn.log").start()
        worker = [PYTHON, "manage.py", "worker", "--interval", "0.5", "--no-startup-delay", "--no-reload"]
        worker += ["--worker-id", f"stress-worker-{self.starts}"]
        env = {**self.env, "PGAPPNAME": WORKER_APP}  # libpq names the worker's connections
        self.worker = Service("worker", worker, env, self.scratch / "worker.log").start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for service in (self.web, self.worker):
                if not service.alive:
                    raise RuntimeError(f"{service.name} exited as it started:\n{service.tail()}")
            try:
                if Http(self.port).call("GET", "/healthz").status == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer /healthz within 120 s:\n{self.web.tail()}")

    def kill(self) -> None:
        """SIGKILL the worker and gunicorn (master and workers), back to back."""
        for service in (self.worker, self.web):
            service.kill()

    def running(self) -> bool:
        return bool(self.web and self.worker and self.web.alive and self.worker.alive)

    def logs(self) -> str:
        return "\n".join(f"--- {s.name} log (last lines) ---\n{s.tail()}" for s in (self.web, self.worker) if s)
