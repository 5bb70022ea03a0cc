"""baresip 1.0.0 (Debian package baresip-core) as a phone driven over ctrl_tcp.

One config dir per phone; no sound card (a 440 Hz sine as microphone, a null speaker);
commands and events are netstring-framed JSON on the ctrl_tcp socket (PEERS.md).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._ports import free_port, wait_bound
from ._process import ManagedProcess

__all__ = ["MODULE_PATH", "Baresip", "account_line"]

MODULE_PATH = "/usr/lib/baresip/modules"
_REGISTERED = re.compile(r"\} 200 ")  # "ua: 1000@127.0.0.1: {0/UDP/v4} 200 OK ..." on stdout


def account_line(
    user: str,
    domain: str = "127.0.0.1",
    *,
    password: str | None = None,
    outbound: str | None = None,
    transport: str = "udp",
    regint: int = 600,
    answermode: str = "manual",
    codecs: str = "PCMU,PCMA",
    extra: str = "",
) -> str:
    """One line of baresip's `accounts` file.

    `outbound="127.0.0.1:5060"` sends everything to the server (with a Route header it must
    pop); `regint=0` does not register at all; `answermode="auto"` answers by itself (and
    then emits no CALL_INCOMING).
    """
    parts = [f"<sip:{user}@{domain};transport={transport}>"]
    if password is not None:
        parts.append(f"auth_pass={password}")
    if outbound is not None:
        parts.append(f'outbound="sip:{outbound};transport={transport}"')
    parts += [f"regint={regint}", f"answermode={answermode}", f"audio_codecs={codecs}"]
    if extra:
        parts.append(extra.lstrip(";"))
    return ";".join(parts)


class Baresip(ManagedProcess):
    """One phone. Build it with the `baresip` fixture, then `start(account_line(...))`."""

    def __init__(self, name: str, *, workdir: Path, host: str = "127.0.0.1") -> None:
        self.host = host
        self.sip_port = free_port(host, span=2)  # baresip also binds TLS on SIP port + 1
        self.ctrl_port = free_port(host)
        self.config_dir = workdir / name
        self.events: list[dict[str, Any]] = []  # every event received, in order
        self._pending: list[dict[str, Any]] = []  # events not yet taken by wait_event
        self._ctrl: socket.socket | None = None
        self._buffer = b""
        self._token = 0
        super().__init__(name, ["baresip", "-f", str(self.config_dir)], workdir=workdir)

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.sip_port}"

    def config(self, record: bool, extra: Mapping[str, str]) -> str:
        settings: dict[str, str] = {
            "poll_method": "epoll",
            "sip_listen": self.hostport,
            "net_interface": self.host,  # the name "lo" does not work in 1.0.0
            # nothing listens there: its resolver never leaves the loopback
            "dns_server": f"{self.host}:{free_port(self.host)}",
            "audio_player": "aubridge,nil",
            "audio_alert": "aubridge,nil",
            "audio_source": "ausine,440",
            "ausrc_srate": "48000",  # ausine only runs at 48 kHz stereo
            "ausrc_channels": "2",
            "module_path": MODULE_PATH,
            "ctrl_tcp_listen": f"{self.host}:{self.ctrl_port}",
            **({"snd_path": str(self.config_dir / "recordings")} if record else {}),
            **extra,
        }
        modules = ["g711", "ausine", "aubridge", *(["sndfile"] if record else [])]
        lines = [f"{key}\t{value}" for key, value in settings.items()]
        lines += [f"module\t{m}.so" for m in modules]
        lines += ["module_tmp\taccount.so"]
        lines += [f"module_app\t{m}.so" for m in ("contact", "menu", "ctrl_tcp")]
        return "\n".join(lines) + "\n"

    def start(
        self,
        account: str,
        *,
        record: bool = False,
        sip_trace: bool = True,
        extra_config: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Baresip:
        """Write the config dir and start; returns once ctrl_tcp accepts a connection.

        `record=True` loads sndfile (WAV files of each call in `config_dir/recordings`);
        `sip_trace` prints every SIP message to the log (shown when a test fails).
        """
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "config").write_text(self.config(record, extra_config or {}))
        (self.config_dir / "accounts").write_text(account + "\n")
        (self.config_dir / "contacts").write_text("")
        if sip_trace:
            self.argv.append("-s")
        self.spawn()
        if not wait_bound(self.ctrl_port, "tcp", self.host, timeout):
            self.stop()
            raise RuntimeError(f"{self.name}: ctrl_tcp never listened:\n{self.output()}")
        self._ctrl = socket.create_connection((self.host, self.ctrl_port), timeout=timeout)
        return self

    # -- ctrl_tcp ---------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict[str, Any] | None:
        """The next netstring JSON object, or None at the deadline."""
        if self._ctrl is None:
            raise RuntimeError(f"{self.name} is not started")
        while True:
            head, colon, rest = self._buffer.partition(b":")
            if colon:
                size = int(head)
                if len(rest) > size:  # payload and the trailing ","
                    self._buffer = rest[size + 1 :]
                    message: dict[str, Any] = json.loads(rest[:size])
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._ctrl.settimeout(left)
            try:
                chunk = self._ctrl.recv(65536)
            except TimeoutError:
                return None
            if not chunk:
                raise ConnectionError(f"{self.name}: ctrl_tcp closed (baresip exited?)")
            self._buffer += chunk

    def _pump(self, deadline: float) -> dict[str, Any] | None:
        message = self._read_message(deadline)
        if message is not None and message.get("event"):
            self.events.append(message)
            self._pending.append(message)
        return message

    def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        """Run a menu command; returns baresip's response object ({"ok": ..., "data": ...})."""
        if self._ctrl is None:
            raise RuntimeError(f"{self.name} is not started")
        self._token += 1
        token = f"t{self._token}"
        payload = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._ctrl.sendall(b"%d:%s," % (len(payload), payload))
        deadline = time.monotonic() + timeout
        while (message := self._pump(deadline)) is not None:
            if message.get("response") and message.get("token") == token:
                return message
        raise TimeoutError(f"{self.name}: no response to {command!r} within {timeout:g} s")

    def dial(self, uri: str) -> dict[str, Any]:
        return self.command("dial", uri)

    def accept(self) -> dict[str, Any]:
        return self.command("accept")

    def hangup(self) -> dict[str, Any]:
        return self.command("hangup")

    def wait_event(self, event_type: str, timeout: float = 10.0) -> dict[str, Any]:
        """The oldest not yet returned event of `event_type` (e.g. "CALL_ESTABLISHED"),
        waiting up to `timeout` s for it; raises TimeoutError listing the events seen."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self._pending:
                if event.get("type") == event_type:
                    self._pending.remove(event)
                    return event
            if self._pump(deadline) is None and time.monotonic() >= deadline:
                seen = [e.get("type") for e in self.events]
                raise TimeoutError(f"{self.name}: no {event_type} within {timeout:g} s; saw {seen}")

    def wait_registered(self, timeout: float = 10.0) -> bool:
        """True once a REGISTER got a 200. Read from stdout: the first REGISTER_OK event
        fires before a ctrl_tcp client can connect."""
        deadline = time.monotonic() + timeout
        while True:
            if _REGISTERED.search(self.output()):
                return True
            if not self.running or time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def quit(self, timeout: float = 5.0) -> int | None:
        """Ask baresip to quit (it unregisters first) and return its exit code; it is
        stopped with signals if it has not exited within `timeout` s."""
        if self.running and self._ctrl is not None:
            try:
                self.command("quit", timeout=timeout)
                self.wait(timeout)
            except (OSError, TimeoutError, subprocess.TimeoutExpired):
                pass  # stop() below settles it
        return self.stop()

    def stop(self, grace: float = 5.0) -> int | None:
        if self._ctrl is not None:
            self._ctrl.close()
            self._ctrl = None
        return super().stop(grace)
