"""RFC 4475 torture tests: every message in tests/data/torture/ with its verdict.

``expected.tsv`` lists each file's verdict (valid, valid-but-odd, invalid).  A
valid message parses with the right values and round-trips byte for byte; an
invalid one raises ``SipParseError`` naming the defect, or parses and
``request_problem`` (what the server answers) rejects it with the status the RFC
asks for.  No file is skipped: a file without a case below fails the suite.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from sipline.sip import (
    AbsoluteUri,
    Request,
    Response,
    SipParseError,
    SipUri,
    parse_message,
    request_problem,
)

TORTURE = Path(__file__).parent.parent / "data" / "torture"

with (TORTURE / "expected.tsv").open(encoding="utf-8") as table:
    VERDICTS = {row["name"]: row["verdict"] for row in csv.DictReader(table, delimiter="\t")}


def load(name: str) -> bytes:
    return (TORTURE / f"{name}.dat").read_bytes()


def request(name: str) -> Request:
    message = parse_message(load(name))
    assert isinstance(message, Request)
    return message


# -- messages that must parse: value checks --------------------------------------------


def check_wsinv(m: Request) -> None:
    assert m.method == "INVITE"
    assert m.to.tag == "1918181833n"
    assert m.from_.tag == "98asjd8"
    assert m.from_.display_name == 'J Rosenberg \\"'
    assert m.max_forwards == 68
    assert (m.cseq.number, m.cseq.method) == (9, "INVITE")
    assert next((v.transport, v.host) for v in m.vias) == ("UDP", "192.0.2.2")
    assert len(m.vias) == 3
    assert m.headers.get("Subject") == ""
    assert m.headers.get("NewFangledHeader") is not None
    assert m.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert len(m.body) == 150


def check_intmeth(m: Request) -> None:
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.cseq.method == m.method
    assert m.to.uri is not None


def check_esc01(m: Request) -> None:
    assert isinstance(m.request_uri, SipUri)
    assert m.request_uri.user == "sips:user@example.com"
    assert isinstance(m.from_.uri, SipUri)
    assert m.from_.uri.user == "I have spaces"
    assert isinstance(m.to.uri, SipUri)
    assert m.to.uri.user == "user"


def check_escnull(m: Request) -> None:
    users = [c.uri.user for c in m.contacts if isinstance(c.uri, SipUri)]
    assert users == ["\x00", "\x00\x00"]
    assert isinstance(m.to.uri, SipUri)
    assert m.to.uri.user == "null-\x00-null"


def check_esc02(m: Request) -> None:
    assert m.method == "RE%47IST%45R"
    assert len(m.contacts) == 2
    assert m.headers.get("C%6Fntact") is not None


def check_lwsdisp(m: Request) -> None:
    assert m.from_.display_name == "caller"
    assert m.from_.tag == "323"


def check_longreq(m: Request) -> None:
    assert len(m.vias) > 30
    assert m.to.display_name is not None
    assert len(m.to.display_name) > 100
    assert isinstance(m.from_.uri, SipUri)
    assert m.from_.uri.user is not None
    assert len(m.from_.uri.user) > 100
    assert len(m.call_id) > 100


def check_dblreq(m: Request) -> None:
    assert m.method == "REGISTER"
    assert m.body == b""
    assert b"INVITE" not in bytes(m)


def check_semiuri(m: Request) -> None:
    assert isinstance(m.request_uri, SipUri)
    assert m.request_uri.user == "user;par=u@example.net"
    assert m.request_uri.host.lower() == "example.com"


def check_transports(m: Request) -> None:
    assert [v.transport for v in m.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def check_mpart01(m: Request) -> None:
    assert m.content_type == "multipart/mixed"
    assert len(m.body) == int(m.headers.get("Content-Length") or 0)
    assert b"\x00" in m.body


def check_unreason(m: Response) -> None:
    assert m.status_code == 200
    assert "=" in m.reason
    assert any(ord(c) > 0x400 for c in m.reason)


def check_noreason(m: Response) -> None:
    assert m.status_code == 100
    assert m.reason == ""


def check_badbranch(m: Request) -> None:
    assert m.top_via.branch == "z9hG4bK"


def check_unkscm(m: Request) -> None:
    assert isinstance(m.request_uri, AbsoluteUri)
    problem = request_problem(m)
    assert problem is not None
    assert problem.status_code == 416


check_novelsc = check_unkscm


def check_unksm2(m: Request) -> None:
    assert isinstance(m.to.uri, AbsoluteUri)
    assert isinstance(m.from_.uri, AbsoluteUri)
    assert isinstance(m.contacts[0].uri, AbsoluteUri)


def check_bext01(m: Request) -> None:
    problem = request_problem(m)
    assert problem is not None
    assert problem.status_code == 420
    unsupported = dict(problem.headers)["Unsupported"]
    assert "nothingSupportsThis" in unsupported


def check_invut(m: Request) -> None:
    assert m.content_type == "application/unknownformat"


def check_regaut01(m: Request) -> None:
    assert m.headers.get("Authorization", "").startswith("NoOneKnowsThisScheme")


def check_bcast(m: Response) -> None:
    assert m.vias[1].host == "255.255.255.255"


def check_zeromf(m: Request) -> None:
    assert m.max_forwards == 0
    assert request_problem(m) is None  # an endpoint processes it
    problem = request_problem(m, proxy=True)
    assert problem is not None
    assert problem.status_code == 483


def check_cparam01(m: Request) -> None:
    (contact,) = m.contacts
    assert "unknownparam" in contact.params
    assert isinstance(contact.uri, SipUri)
    assert "unknownparam" not in contact.uri.params


def check_cparam02(m: Request) -> None:
    (contact,) = m.contacts
    assert isinstance(contact.uri, SipUri)
    assert "unknownparam" in contact.uri.params


def check_regescrt(m: Request) -> None:
    (contact,) = m.contacts
    assert isinstance(contact.uri, SipUri)
    assert any(name.lower() == "route" for name, _ in contact.uri.headers)


def check_sdp01(m: Request) -> None:
    assert m.content_type == "application/sdp"
    assert "application/sdp" not in (m.headers.get("Accept") or "")


def check_inv2543(m: Request) -> None:
    assert m.top_via.branch is None
    assert m.from_.tag is None
    assert m.max_forwards is None
    assert "Content-Length" not in m.headers
    assert m.body.startswith(b"v=0")


# -- messages that parse and the server rejects ---------------------------------------------


def rejected_with(status: int) -> Callable[[Request], None]:
    def check(m: Request) -> None:
        problem = request_problem(m, allowed_methods={"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"})
        assert problem is not None
        assert problem.status_code == status

    return check


check_escruri = rejected_with(400)
check_badvers = rejected_with(505)
check_mismatch01 = rejected_with(400)
check_mismatch02 = rejected_with(400)  # CSeq mismatch caught first; RFC 4475 accepts 400


def check_baddate(m: Request) -> None:
    # Date is never used by sipline, so the odd zone is ignored (RFC 4475 §3.1.2.12).
    assert "EST" in (m.headers.get("Date") or "")


def check_regbadct(m: Request) -> None:
    # The Contact is not in name-addr form: reading it fails and the registrar answers 400.
    with pytest.raises(SipParseError) as excinfo:
        m.contacts  # noqa: B018
    assert excinfo.value.header == "Contact"


# -- messages the parser refuses, and the defect it must name --------------------------------

REFUSED: dict[str, str] = {
    "badinv01": "via",
    "clerr": "content-length",
    "ncl": "content-length",
    "scalar02": "cseq",
    "scalarlg": "cseq",
    "quotbal": "to",
    "ltgtruri": "request-uri",
    "lwsruri": "request line",
    "lwsstart": "request line",
    "trws": "request line",
    "badaspec": "to",
    "baddn": "from",
    "bigcode": "status code",
    "insuf": "header",
    "multi01": "more than one",
    "mcl01": "content-length",
}

CHECKS: dict[str, Callable[..., None]] = {
    name[len("check_") :]: func
    for name, func in dict(globals()).items()
    if name.startswith("check_") and callable(func)
}


def test_every_torture_message_has_a_verdict_here() -> None:
    files = {p.stem for p in TORTURE.glob("*.dat")}
    assert files == set(VERDICTS)
    assert files == set(CHECKS) | set(REFUSED), "a torture file has no test"
    assert not set(CHECKS) & set(REFUSED)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_parses_and_round_trips(name: str) -> None:
    data = load(name)
    message = parse_message(data)
    CHECKS[name](message)
    raw = bytes(message)
    assert data.startswith(raw) or data.endswith(raw)
    if name != "dblreq":
        assert raw in (data, data.lstrip(b"\r\n"))
    reparsed = parse_message(raw)
    assert reparsed == message


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_naming_the_defect(name: str) -> None:
    assert VERDICTS[name] == "invalid"
    with pytest.raises(SipParseError) as excinfo:
        parse_message(load(name))
    error = excinfo.value
    described = f"{error.reason} {error.header or ''}".lower()
    assert REFUSED[name] in described, f"{name}: {error!s} does not name {REFUSED[name]!r}"
    assert error.status_hint == 400


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_every_prefix_only_raises_sip_parse_error(name: str) -> None:
    data = load(name)
    for cut in range(0, len(data), max(1, len(data) // 40)):
        with contextlib.suppress(SipParseError):
            parse_message(data[:cut])
