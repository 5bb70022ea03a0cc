"""``sipline user ...``: the local users (add, list, passwd, remove, import).

Passwords are never stored: only HA1 = H(user:realm:password) in MD5 and SHA-256,
with the realm being the user's domain (RFC 7616 §3.4.2; FreeSWITCH's realm =
domain).  Changing a user's domain therefore needs the password set again.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import ipaddress
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sipline.store import SqliteStore, StoreError, User, UserExistsError, open_store

DEFAULT_DATA = "./sipline-data"
# RFC 3261 §25.1 user: unreserved / escaped / user-unreserved; kept to what phones type.
_USER_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+")
_DOMAIN_RE = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.?"
)
_HEX_RE = {"md5": re.compile(r"[0-9a-f]{32}"), "sha256": re.compile(r"[0-9a-f]{64}")}


class UsageError(Exception):
    """Bad input from the person at the keyboard: one line, exit code 2."""


class FailureError(Exception):
    """The command could not be done: one line, exit code 1."""


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    user = subparsers.add_parser("user", help="manage local users", description=__doc__)
    commands = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name, help=help_text, description=help_text
        )
        parser.add_argument(
            "--data", default=DEFAULT_DATA, metavar="DIR", help=f"data directory ({DEFAULT_DATA})"
        )
        return parser

    add = action("add", "add a user (password prompted when --password is omitted)")
    add.add_argument("aor", metavar="USER@DOMAIN")
    add.add_argument("--password", help="the password (else prompted, or read from stdin)")
    add.add_argument("--name", help="display name")
    add.set_defaults(run=_guarded(run_add))
    listing = action("list", "list users")
    listing.add_argument("--domain", help="only this domain")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(run=_guarded(run_list))
    passwd = action("passwd", "set a user's password")
    passwd.add_argument("aor", metavar="USER@DOMAIN")
    passwd.add_argument("--password", help="the new password (else prompted, or read from stdin)")
    passwd.set_defaults(run=_guarded(run_passwd))
    remove = action("remove", "remove a user")
    remove.add_argument("aor", metavar="USER@DOMAIN")
    remove.set_defaults(run=_guarded(run_remove))
    imp = action("import", "import users from a Flexisip users file or a CSV file")
    imp.add_argument("file", help="users file ('-' for standard input)")
    imp.add_argument(
        "--format",
        choices=("auto", "flexisip", "csv"),
        default="auto",
        help="file format (auto: CSV when the name ends in .csv)",
    )
    imp.add_argument("--replace", action="store_true", help="overwrite users that exist")
    imp.set_defaults(run=_guarded(run_import))


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except UsageError as exc:
            print(f"sipline: {exc}", file=sys.stderr)
            return 2
        except (FailureError, StoreError) as exc:
            print(f"sipline: {exc}", file=sys.stderr)
            return 1

    return guarded


def parse_aor(text: str) -> tuple[str, str]:
    """``user@domain`` -> (user, domain lower case); UsageError naming the fix."""
    text = text.strip().removeprefix("sip:")
    user, at, domain = text.rpartition("@")
    if (
        not at
        or not user
        or not domain
        or _USER_RE.fullmatch(user) is None
        or not _valid_domain(domain)
    ):
        raise UsageError(f"{text!r} is not USER@DOMAIN; give e.g. 1000@example.com")
    return user, domain.lower().rstrip(".")


def _valid_domain(domain: str) -> bool:
    if domain.startswith("[") and domain.endswith("]"):
        try:
            ipaddress.IPv6Address(domain[1:-1])
        except ValueError:
            return False
        return True
    return _DOMAIN_RE.fullmatch(domain) is not None


def _password(given: str | None, aor: str) -> str:
    if given is None:
        if sys.stdin.isatty():
            given = getpass.getpass(f"Password for {aor}: ")
            if getpass.getpass("Again: ") != given:
                raise UsageError("the passwords differ; try again")
        else:  # scripts: the first line of standard input
            given = sys.stdin.readline().rstrip("\r\n")
    if not given:
        raise UsageError("the password is empty; give --password or type one")
    return given


def _open(args: argparse.Namespace) -> SqliteStore:
    return open_store(args.data)


def run_add(args: argparse.Namespace) -> int:
    user, domain = parse_aor(args.aor)
    password = _password(args.password, f"{user}@{domain}")
    with _open(args) as store:
        try:
            store.add_user(
                User.create(user, domain, password, display_name=args.name, created_at=time.time())
            )
        except UserExistsError:
            raise FailureError(
                f"{user}@{domain} already exists; use 'sipline user passwd' to change its password"
            ) from None
    print(f"added {user}@{domain}")
    return 0


def run_passwd(args: argparse.Namespace) -> int:
    user, domain = parse_aor(args.aor)
    with _open(args) as store:
        existing = store.get_user(user, domain)
        if existing is None:
            raise FailureError(f"no user {user}@{domain}; add it with 'sipline user add'")
        password = _password(args.password, existing.aor)
        fresh = User.create(
            user,
            domain,
            password,
            display_name=existing.display_name,
            created_at=existing.created_at,
        )
        store.update_user(fresh)
    print(f"password of {user}@{domain} changed")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    user, domain = parse_aor(args.aor)
    with _open(args) as store:
        if not store.remove_user(user, domain):
            raise FailureError(f"no user {user}@{domain}")
    print(f"removed {user}@{domain}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    with _open(args) as store:
        users = store.list_users(args.domain)
    if args.json:
        rows = [
            {
                "user": u.user,
                "domain": u.domain,
                "aor": u.aor,
                "display_name": u.display_name,
                "created_at": u.created_at,
            }
            for u in users
        ]
        print(json.dumps(rows, indent=2))
        return 0
    table = [("USER@DOMAIN", "NAME", "CREATED")] + [
        (u.aor, u.display_name or "", _when(u.created_at)) for u in users
    ]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    print(f"{len(users)} user{'s' if len(users) != 1 else ''}")
    return 0


def _when(timestamp: float) -> str:
    if not timestamp:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


# -- import -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    line: int
    user: User


def run_import(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
    except OSError as exc:
        raise FailureError(f"cannot read {args.file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise FailureError(f"{args.file} is not UTF-8 text") from None
    fmt = args.format
    if fmt == "auto":
        fmt = "csv" if args.file.lower().endswith(".csv") else "flexisip"
    now = time.time()
    reader = _read_csv if fmt == "csv" else _read_flexisip
    try:
        entries = list(reader(text, now))  # all lines checked before anything is written
    except UsageError as exc:
        raise FailureError(f"{args.file}:{exc}") from None
    added = replaced = skipped = 0
    with _open(args) as store:
        for entry in entries:
            try:
                store.add_user(entry.user)
                added += 1
            except UserExistsError:
                if args.replace:
                    store.update_user(entry.user)
                    replaced += 1
                else:
                    skipped += 1
    print(
        f"imported {added} users, replaced {replaced}, skipped {skipped} that exist"
        + ("" if args.replace or not skipped else " (use --replace to overwrite them)")
    )
    return 0


def _read_flexisip(text: str, now: float) -> Iterator[_Entry]:
    """Flexisip ``users.db.txt``: ``version:1`` then ``user@domain clrtxt:PW md5:H sha256:H ;``."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#") or line.lower().startswith("version:"):
            continue
        fields = line.partition(";")[0].split()  # after ';' come aliases (phone numbers)
        if not fields:
            raise UsageError(f"{number}: no identity before ';'")
        try:
            user, domain = parse_aor(fields[0])
        except UsageError as exc:
            raise UsageError(f"{number}: {exc}") from None
        secrets: dict[str, str] = {}
        for item in fields[1:]:
            kind, colon, value = item.partition(":")
            kind = kind.lower()
            if not colon or kind not in ("clrtxt", "md5", "sha256") or not value:
                raise UsageError(f"{number}: expected clrtxt:, md5: or sha256:, not {item[:20]!r}")
            secrets[kind] = value
        yield _Entry(number, _user_from(secrets, user, domain, None, now, number))


def _user_from(
    secrets: dict[str, str], user: str, domain: str, name: str | None, now: float, number: int
) -> User:
    if "clrtxt" in secrets:
        return User.create(user, domain, secrets["clrtxt"], display_name=name, created_at=now)
    for kind in ("md5", "sha256"):
        value = secrets.get(kind, "").lower()
        if value and _HEX_RE[kind].fullmatch(value) is None:
            raise UsageError(f"{number}: {kind}: is not a hex {kind.upper()} digest")
    md5, sha256 = secrets.get("md5", "").lower(), secrets.get("sha256", "").lower()
    if not md5 and not sha256:
        raise UsageError(f"{number}: {user}@{domain} has no password (clrtxt:, md5: or sha256:)")
    # Only the given digests: the user can answer challenges of those algorithms only.
    return User(user, domain, md5, sha256, name, now)


_CSV_COLUMNS = {
    "aor",
    "user",
    "domain",
    "password",
    "ha1_md5",
    "ha1_sha256",
    "display_name",
    "name",
}


def _read_csv(text: str, now: float) -> Iterator[_Entry]:
    """CSV with a header (aor or user+domain, password or ha1_md5/ha1_sha256, display_name)
    or without one: ``user@domain,password[,display name]``."""
    rows = list(csv.reader(text.splitlines()))
    header: list[str] | None = None
    if rows and {cell.strip().lower() for cell in rows[0]} & {"aor", "password", "user"}:
        header = [cell.strip().lower() for cell in rows[0]]
        unknown = set(header) - _CSV_COLUMNS
        if unknown:
            raise UsageError(f"1: unknown columns {', '.join(sorted(unknown))}")
    for number, row in enumerate(rows, start=1):
        if (header is not None and number == 1) or not any(cell.strip() for cell in row):
            continue
        if header is None:
            if len(row) < 2:
                raise UsageError(f"{number}: expected USER@DOMAIN,PASSWORD[,DISPLAY NAME]")
            fields = dict(zip(("aor", "password", "display_name"), row, strict=False))
        else:
            fields = dict(zip(header, row, strict=False))
        aor = fields.get("aor") or f"{fields.get('user', '')}@{fields.get('domain', '')}"
        try:
            user, domain = parse_aor(aor)
        except UsageError as exc:
            raise UsageError(f"{number}: {exc}") from None
        secrets = {
            kind: fields[column].strip()
            for kind, column in (
                ("clrtxt", "password"),
                ("md5", "ha1_md5"),
                ("sha256", "ha1_sha256"),
            )
            if fields.get(column, "").strip()
        }
        if "clrtxt" in secrets:
            secrets["clrtxt"] = fields["password"]  # passwords may have spaces at the ends
        name = (fields.get("display_name") or fields.get("name") or "").strip() or None
        yield _Entry(number, _user_from(secrets, user, domain, name, now, number))
