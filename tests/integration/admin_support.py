"""Helpers of the admin API, console and web console integration tests: a `sipline serve`
with its admin listener on 127.0.0.1 (port 0: the real one is read from admin.json), users
made through the API, and SIPp registrations."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from harness import ServerFactory, ServerProcess, SippFactory, auth_rows, write_injection_file

import sipline.server
from sipline.admin import AdminClient, AdminLocation, read_location

DOMAIN = "127.0.0.1"

#: The admin listener is started by Server (server.py, owned by the lead); until it is
#: wired these tests are reported as xfail without running, and run normally once it is.
ADMIN_WIRED = "AdminServer" in Path(sipline.server.__file__).read_text("utf-8")
needs_admin_wiring = pytest.mark.xfail(
    not ADMIN_WIRED, reason="AdminServer is not started by sipline.server yet", run=False
)


def wait_location(server: ServerProcess, timeout: float = 10.0) -> AdminLocation:
    """The admin URL and token, once the server has written admin.json."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return read_location(server.data_dir)
        except LookupError:
            if time.monotonic() > deadline or not server.running:
                raise AssertionError(
                    f"no admin.json in {server.data_dir} after {timeout:g} s:\n{server.output()}"
                ) from None
            time.sleep(0.1)


def start_with_admin(
    sipline_server: ServerFactory,
    harness_dir: Path,
    *,
    config: str = "",
    data_dir: Path | None = None,
    port: int | None = None,
) -> tuple[ServerProcess, AdminClient]:
    args = ["--listen", "udp:{host}:{port}", "--listen", "tcp:{host}:{port}"]
    args += ["--data", "{data_dir}", "--domain", DOMAIN, "--admin", "127.0.0.1:0"]
    if config:
        path = harness_dir / "sipline.toml"
        path.write_text(config)
        args += ["--config", str(path)]
    server = sipline_server(*args, data_dir=data_dir or harness_dir / "data", port=port)
    location = wait_location(server)
    return server, AdminClient(location.url, location.token)


def add_user(client: AdminClient, user: str, password: str) -> None:
    client.post_json("/api/users", {"aor": f"{user}@{DOMAIN}", "password": password})


def register(
    sipp: SippFactory,
    server: ServerProcess,
    harness_dir: Path,
    user: str,
    password: str,
    *,
    port: int | None = None,
    expires: int = 300,
) -> int:
    """Register `user` with SIPp (digest auth) from `port`; the port SIPp used."""
    rows = write_injection_file(harness_dir / f"{user}.csv", auth_rows([(user, password)]))
    sipp_port = port if port is not None else _free_udp_port()
    result = sipp.run(
        "reg_uac_auth",
        server.hostport,
        port=sipp_port,
        injection=rows,
        calls=1,
        keys={"expires": str(expires)},
        timeout=15,
    )
    result.assert_ok(calls=1)
    return sipp_port


def _free_udp_port() -> int:
    from harness import free_port

    return free_port()
