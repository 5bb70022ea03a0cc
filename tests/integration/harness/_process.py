"""A child process with its output in a log file, stopped by its PID, and the registry
that stops every process a test started and attaches their logs to a failing test's report."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

__all__ = ["ManagedProcess", "ProcessGroup"]

REPORT_TAIL = 20_000  # characters of each log attached to a failed test's report


def read_tail(path: Path, limit: int = REPORT_TAIL) -> str:
    """The last `limit` characters of a text file ("" when it does not exist)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return text if size <= limit else f"[... {size - limit} bytes cut ...]\n{text}"


class ManagedProcess:
    """One external program: stdout+stderr go to `<workdir>/<name>.log`.

    `stop()` sends `stop_signal` (SIGTERM), waits `grace` seconds, then SIGKILL; only this
    PID is signalled. Subclasses add readiness checks and report extra files.
    """

    stop_signal: signal.Signals = signal.SIGTERM

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        workdir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.env = dict(env) if env is not None else None
        self.cwd = cwd or workdir
        self.popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.returncode: int | None = None

    # -- life cycle -------------------------------------------------------------------
    def spawn(self) -> None:
        """Start the program (no readiness check)."""
        if self.popen is not None:
            raise RuntimeError(f"{self.name} already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._log.write(f"$ {' '.join(self.argv)}\n".encode())
        self._log.flush()
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,  # our signals only: a ^C to pytest is handled by us
        )

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise RuntimeError(f"{self.name} not started")
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit (raises subprocess.TimeoutExpired); returns the exit code."""
        if self.popen is None:
            raise RuntimeError(f"{self.name} not started")
        code = self.popen.wait(timeout)
        self._finished(code)
        return code

    def stop(self, grace: float = 5.0) -> int | None:
        """Stop it (signal, then SIGKILL after `grace` s); returns the exit code. Idempotent."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(self.stop_signal)
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._finished(self.popen.wait())
        return self.returncode

    def _finished(self, code: int) -> None:
        self.returncode = code
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- output -------------------------------------------------------------------------
    def output(self) -> str:
        """Everything the program printed so far."""
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def wait_output(self, needle: str, timeout: float = 10.0, *, start: int = 0) -> bool:
        """Poll the log until `needle` appears after character `start`; False on timeout or
        when the program exits without printing it."""
        deadline = time.monotonic() + timeout
        while True:
            if needle in self.output()[start:]:
                return True
            if not self.running or time.monotonic() >= deadline:
                return needle in self.output()[start:]
            time.sleep(0.05)

    def report_sections(self) -> list[tuple[str, str]]:
        """(title, text) pairs shown in the report of a failed test."""
        code = "running" if self.running else f"exit {self.returncode}"
        return [(f"{self.name} output ({code})", read_tail(self.log_path))]

    def __repr__(self) -> str:
        pid = self.popen.pid if self.popen else None
        return f"<{type(self).__name__} {self.name} pid={pid}>"


class ProcessGroup:
    """Every process started for one test: stopped in reverse order on teardown."""

    def __init__(self) -> None:
        self.processes: list[ManagedProcess] = []

    def add(self, process: ManagedProcess) -> None:
        self.processes.append(process)

    def stop_all(self) -> None:
        errors: list[BaseException] = []
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(exc)
        if errors:
            raise errors[0]

    def report_sections(self) -> list[tuple[str, str]]:
        sections: list[tuple[str, str]] = []
        for process in self.processes:
            sections.extend(process.report_sections())
        return sections
