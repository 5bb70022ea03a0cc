"""Issue #9 "must show": the web console in headless Chromium (Debian `chromium`, driven by
Playwright): it shows a phone SIPp registered and a call SIPp keeps up, and the ladder of
that call opens."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from admin_support import DOMAIN, add_user, needs_admin_wiring, register, start_with_admin
from harness import ServerFactory, SippFactory, free_port, in_ci

from sipline.b2bua import B2bua

pytestmark = [pytest.mark.integration, needs_admin_wiring]

CHROMIUM = "/usr/bin/chromium"
#: The B2BUA must implement the admin CallRegistry protocol for live calls to show.
CALLS_WIRED = all(hasattr(B2bua, name) for name in ("active_calls", "hangup", "results"))

# Calls from SIPp are not challenged (SIPp's call scenarios carry no credentials).
CONFIG = """
[auth]
invite = false
"""


def _browser_available() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        message = "playwright is not installed (.venv/bin/pip install playwright)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    if shutil.which(CHROMIUM) is None:
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.xfail(
    not CALLS_WIRED, reason="the B2BUA does not implement CallRegistry yet", run=False
)
def test_console_shows_registered_phone_live_call_and_its_ladder(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path
) -> None:
    _browser_available()
    from playwright.sync_api import expect, sync_playwright

    server, client = start_with_admin(sipline_server, harness_dir, config=CONFIG)
    add_user(client, "1000", "pw-1000")
    add_user(client, "1001", "pw-1001")
    callee_port = free_port()
    register(sipp, server, harness_dir, "1001", "pw-1001", port=callee_port)
    callee = sipp.uas("uas_call", port=callee_port, calls=1, keys={"callee": "1001"}, timeout=60)
    caller = sipp.uac(
        "uac_call_hold",
        server.hostport,
        service="1001",
        calls=1,
        keys={"caller": "1000"},
        timeout=60,
        extra_args=["-d", "40000"],
    )

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{client.url}/?token={client.token}")
            expect(page.locator("#live-state")).to_have_text("live", timeout=15_000)
            phone = page.locator(f'#registrations tbody tr[data-aor="1001@{DOMAIN}"]')
            expect(phone).to_be_visible(timeout=15_000)
            expect(phone).to_contain_text(f"udp:127.0.0.1:{callee_port}")
            call = page.locator("#calls tbody tr").first
            expect(call).to_be_visible(timeout=20_000)
            expect(call).to_contain_text("1001")
            expect(call).to_contain_text("answered", timeout=20_000)
            assert page.url == f"{client.url}/"  # the token left the address bar
            call.locator("button.ladder-button").click()
            frame = page.frame_locator("#ladder-frame")
            expect(frame.locator("svg").first).to_be_visible(timeout=15_000)
            expect(frame.locator("body")).to_contain_text("INVITE")
            expect(frame.locator("body")).to_contain_text("200")
        finally:
            browser.close()
    assert caller.running
    assert callee.running


def test_console_asks_for_the_token_and_shows_the_registered_phone(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path
) -> None:
    _browser_available()
    from playwright.sync_api import expect, sync_playwright

    server, client = start_with_admin(sipline_server, harness_dir)
    add_user(client, "1000", "pw-1000")
    phone_port = register(sipp, server, harness_dir, "1000", "pw-1000")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.goto(client.url + "/")
            expect(page.locator("#login")).to_be_visible()
            page.fill("#token-input", "wrong")
            page.click("#login-form button")
            expect(page.locator("#login-error")).to_contain_text("refused")
            page.fill("#token-input", client.token)
            page.click("#login-form button")
            phone = page.locator(f'#registrations tbody tr[data-aor="1000@{DOMAIN}"]')
            expect(phone).to_contain_text(f"udp:127.0.0.1:{phone_port}", timeout=15_000)
            expect(page.locator("#users tbody tr")).to_have_count(1)
            expect(page.locator("#count-registrations")).to_have_text("1")
            # A user added from the page is in the store.
            page.fill("#user-aor", f"1002@{DOMAIN}")
            page.fill("#user-password", "pw-1002")
            page.click("#user-form button")
            expect(page.locator("#users tbody tr")).to_have_count(2)
        finally:
            browser.close()
    aors = [u["aor"] for u in client.get_json("/api/users")["users"]]
    assert aors == [f"1000@{DOMAIN}", f"1002@{DOMAIN}"]
