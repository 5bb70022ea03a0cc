"""Issue #4 "must show" with real clients: a baresip phone registers with a password, and
the sipvicious scanner (`svwar`) and cracker (`svcrack`) get nothing out of the server.

sipvicious 0.3.3 ignores `-b` and binds port 5060 by default, so every run gets its own
`-P` port; `-R` (upload a traceback to its author) is never used.  It keeps sessions in
~/.sipvicious: HOME points into the test's temp dir.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from harness import BaresipFactory, ServerFactory, account_line, free_port, require_tool
from test_registrar import DOMAIN, start_server, stored

pytestmark = pytest.mark.integration

USERS = {str(n): f"pw-{n}-Xq7" for n in range(1000, 1005)}


def sipvicious(tool: str, args: list[str], home: Path, timeout: float = 90.0) -> str:
    """Run svwar/svcrack to completion; its whole output (it logs to stderr)."""
    require_tool(tool)
    home.mkdir(exist_ok=True)
    done = subprocess.run(
        [tool, "-P", str(free_port()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HOME": str(home)},
        check=False,
    )
    return done.stdout + done.stderr


# baresip 1.0.0 (libre) walks every WWW-Authenticate of a 401 and gives up on the whole
# challenge ("Register: Function not implemented", ENOSYS) when one of them has an
# algorithm other than MD5: the server offers MD5 alone to it (auth.md5_only_agents).
def test_baresip_registers_with_password(
    sipline_server: ServerFactory, baresip: BaresipFactory, harness_dir: Path
) -> None:
    server = start_server(sipline_server, harness_dir, users=USERS)
    phone = baresip("phone1000")
    phone.start(account_line("1000", DOMAIN, password=USERS["1000"], outbound=server.hostport))
    assert phone.wait_registered(timeout=15), phone.output()

    # the challenge came first (MD5 only for this User-Agent), baresip answered it
    trace = phone.output()
    assert "401 Unauthorized" in trace
    assert 'algorithm=MD5, qop="auth"' in trace
    assert "SHA-256" not in trace
    assert "Function not implemented" not in trace
    contacts = stored(server.data_dir, f"1000@{DOMAIN}")
    assert len(contacts) == 1
    assert f"@127.0.0.1:{phone.sip_port}" in contacts[0]

    assert phone.quit() == 0  # baresip unregisters (Expires: 0) on its way out
    deadline = time.monotonic() + 5
    while stored(server.data_dir, f"1000@{DOMAIN}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stored(server.data_dir, f"1000@{DOMAIN}") == []


@pytest.mark.parametrize("force", [False, True], ids=["sanity-check", "forced"])
def test_svwar_learns_no_extension(
    sipline_server: ServerFactory, harness_dir: Path, force: bool
) -> None:
    server = start_server(sipline_server, harness_dir, users=USERS)
    args = ["-e", "990-1010", "-p", str(server.port), "127.0.0.1"]
    output = sipvicious("svwar", ["--force", *args] if force else args, harness_dir / "home")

    # every user, real or not, gets the same 401: nothing to tell them apart
    assert "found nothing" in output, output
    assert "Extension" not in output, output  # no result table
    for user in USERS:
        assert f"| {user}" not in output, output
    if not force:
        assert "authentication request for an unknown extension" in output, output
    assert server.running


def test_svcrack_is_blocked_before_reaching_the_password(
    sipline_server: ServerFactory, harness_dir: Path
) -> None:
    max_failures = 5
    server = start_server(
        sipline_server,
        harness_dir,
        users=USERS,
        config=f"[auth]\nmax_failures = {max_failures}\nblock_time = 30\n",
    )
    # the password is the 21st guess: 20 wrong ones first
    dictionary = harness_dir / "passwords.txt"
    dictionary.write_text("".join(f"guess{n}\n" for n in range(20)) + USERS["1000"] + "\n")
    output = sipvicious(
        "svcrack",
        [
            "-u",
            "1000",
            "-d",
            str(dictionary),
            "--maximumtime",
            "5",
            "-p",
            str(server.port),
            "127.0.0.1",
        ],
        harness_dir / "home",
    )

    assert USERS["1000"] not in output, output
    assert "found nothing" in output, output
    assert "since we last received a response - stopping" in output, output
    assert server.wait_output("blocking 127.0.0.1 for 30 s", timeout=5)
    # exactly max_failures wrong guesses were answered; then the source got silence
    log = server.output()
    assert log.count("authentication failed for 1000@127.0.0.1") == max_failures, log
    assert stored(server.data_dir, f"1000@{DOMAIN}") == []


def test_svcrack_finds_the_password_when_the_guard_allows_it(
    sipline_server: ServerFactory, harness_dir: Path
) -> None:
    # The control for the test above: same dictionary, a guard that allows 100 failures.
    # svcrack then cracks it, so the block (not a digest svcrack cannot do) stopped it.
    server = start_server(
        sipline_server, harness_dir, users=USERS, config="[auth]\nmax_failures = 100\n"
    )
    dictionary = harness_dir / "passwords.txt"
    dictionary.write_text("".join(f"guess{n}\n" for n in range(20)) + USERS["1000"] + "\n")
    output = sipvicious(
        "svcrack",
        [
            "-u",
            "1000",
            "-d",
            str(dictionary),
            "--maximumtime",
            "5",
            "-p",
            str(server.port),
            "127.0.0.1",
        ],
        harness_dir / "home",
    )
    assert USERS["1000"] in output, output
