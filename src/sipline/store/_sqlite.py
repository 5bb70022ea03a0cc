"""``SqliteStore``: users, bindings and CDRs in one SQLite file (``sipline.db``).

Durability choice: WAL journal with ``synchronous=NORMAL``.  A commit is appended
to the WAL before ``update`` returns, so a binding survives a crash or kill of the
process (the registrar answers 200 OK after the commit, as RFC 3261 §10.3 and
DESIGN.md ask); only a power loss or OS crash may drop the last commits before a
checkpoint.  ``synchronous=FULL`` would fsync every REGISTER, which caps a
registrar at the disk's fsync rate; pass ``synchronous="FULL"`` to get it.

Bindings are also held in memory (:class:`BindingIndex`), written through, so
lookups never touch the disk.  The schema version is ``PRAGMA user_version``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from sipline.sip import Address
from sipline.store._index import BindingIndex
from sipline.store._interfaces import StoreError, UserExistsError
from sipline.store._model import Binding, CdrRecord, User

__all__ = ["DATABASE_NAME", "SCHEMA_VERSION", "SqliteStore", "open_store"]

DATABASE_NAME = "sipline.db"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE users (
    user TEXT NOT NULL, domain TEXT NOT NULL,
    ha1_md5 TEXT NOT NULL, ha1_sha256 TEXT NOT NULL,
    display_name TEXT, created_at REAL NOT NULL,
    PRIMARY KEY (domain, user)
) WITHOUT ROWID;
CREATE TABLE bindings (
    aor TEXT NOT NULL, key TEXT NOT NULL, contact TEXT NOT NULL,
    expires_at REAL NOT NULL, call_id TEXT NOT NULL, cseq INTEGER NOT NULL,
    source TEXT NOT NULL, local TEXT NOT NULL, q REAL, instance TEXT, reg_id INTEGER,
    path TEXT NOT NULL, user_agent TEXT, registered_at REAL NOT NULL,
    PRIMARY KEY (aor, key)
) WITHOUT ROWID;
CREATE TABLE cdrs (
    id INTEGER PRIMARY KEY, start_time REAL NOT NULL, caller TEXT NOT NULL,
    callee TEXT NOT NULL, cause TEXT NOT NULL, call_ids TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX cdrs_start_time ON cdrs (start_time);
CREATE INDEX cdrs_caller ON cdrs (caller, start_time);
CREATE INDEX cdrs_callee ON cdrs (callee, start_time);
CREATE INDEX cdrs_cause ON cdrs (cause, start_time);
CREATE TABLE cdr_call_ids (
    call_id TEXT NOT NULL, cdr_id INTEGER NOT NULL REFERENCES cdrs (id),
    PRIMARY KEY (call_id, cdr_id)
) WITHOUT ROWID;
"""

_SELECT_BINDINGS = (
    "SELECT aor, key, contact, expires_at, call_id, cseq, source, local, q, instance, reg_id,"
    " path, user_agent, registered_at FROM bindings"
)
_INSERT_BINDING = (
    "INSERT OR REPLACE INTO bindings (aor, key, contact, expires_at, call_id, cseq, source,"
    " local, q, instance, reg_id, path, user_agent, registered_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SELECT_USERS = "SELECT user, domain, ha1_md5, ha1_sha256, display_name, created_at FROM users"
_INSERT_USER = (
    "INSERT INTO users (user, domain, ha1_md5, ha1_sha256, display_name, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def _address_text(address: Address) -> str:
    return f"{address.transport} {address.host} {address.port}"


def _address(text: str) -> Address:
    transport, host, port = text.split(" ")
    return Address(transport, host, int(port))


def _binding_row(b: Binding) -> tuple[Any, ...]:
    return (
        b.aor, b.key, b.contact, b.expires_at, b.call_id, b.cseq,
        _address_text(b.source), _address_text(b.local), b.q, b.instance, b.reg_id,
        json.dumps(list(b.path)) if b.path else "[]", b.user_agent, b.registered_at,
    )  # fmt: skip


def _binding(row: tuple[Any, ...]) -> Binding:
    (aor, key, contact, expires_at, call_id, cseq, source, local, q, instance, reg_id,
     path, user_agent, registered_at) = row  # fmt: skip
    return Binding(
        aor=aor, key=key, contact=contact, expires_at=expires_at, call_id=call_id, cseq=cseq,
        source=_address(source), local=_address(local), q=q, instance=instance,
        reg_id=reg_id, path=tuple(json.loads(path)), user_agent=user_agent,
        registered_at=registered_at,
    )  # fmt: skip


def _user(row: tuple[Any, ...]) -> User:
    user, domain, ha1_md5, ha1_sha256, display_name, created_at = row
    return User(user, domain, ha1_md5, ha1_sha256, display_name, created_at)


class SqliteStore:
    """:class:`UserStore`, :class:`LocationStore` and :class:`CdrStore` over one SQLite file."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self.path = Path(path)
        created = not self.path.exists()
        try:
            self._db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from None
        try:
            if created:
                os.chmod(self.path, 0o600)  # it holds password digests
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._migrate()
            self._index = BindingIndex()
            for row in self._db.execute(_SELECT_BINDINGS):
                self._index.put(_binding(row))
        except (sqlite3.Error, OSError) as exc:
            self._db.close()
            raise StoreError(f"cannot use {self.path}: {exc}") from None

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this sipline"
                f" ({SCHEMA_VERSION}); upgrade sipline"
            )
        with self._transaction():
            if version == 0:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- UserStore ------------------------------------------------------------------
    def add_user(self, user: User) -> None:
        try:
            with self._transaction():
                self._db.execute(
                    _INSERT_USER,
                    (user.user, user.domain.lower(), user.ha1_md5, user.ha1_sha256,
                     user.display_name, user.created_at),
                )  # fmt: skip
        except sqlite3.IntegrityError:
            raise UserExistsError(f"user {user.aor} already exists") from None

    def get_user(self, user: str, domain: str) -> User | None:
        row = self._db.execute(
            _SELECT_USERS + " WHERE domain = ? AND user = ?",
            (domain.lower(), user),
        ).fetchone()
        return None if row is None else _user(row)

    def list_users(self, domain: str | None = None) -> list[User]:
        if domain is None:
            rows = self._db.execute(_SELECT_USERS + " ORDER BY domain, user")
        else:
            rows = self._db.execute(
                _SELECT_USERS + " WHERE domain = ? ORDER BY user",
                (domain.lower(),),
            )
        return [_user(row) for row in rows]

    def count_users(self) -> int:
        """How many users there are (for status and metrics: no User objects made)."""
        return int(self._db.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    def update_user(self, user: User) -> bool:
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE users SET ha1_md5 = ?, ha1_sha256 = ?, display_name = ?"
                " WHERE domain = ? AND user = ?",
                (user.ha1_md5, user.ha1_sha256, user.display_name, user.domain.lower(), user.user),
            )
        return cursor.rowcount > 0

    def remove_user(self, user: str, domain: str) -> bool:
        with self._transaction():
            cursor = self._db.execute(
                "DELETE FROM users WHERE domain = ? AND user = ?", (domain.lower(), user)
            )
        return cursor.rowcount > 0

    # -- LocationStore ----------------------------------------------------------------
    def lookup(self, aor: str, now: float) -> list[Binding]:
        return self._index.lookup(aor, now)

    def update(self, aor: str, *, save: Sequence[Binding], remove: Iterable[str] = ()) -> None:
        remove = [key for key in remove if key not in {b.key for b in save}]
        for binding in save:
            if binding.aor != aor:
                raise ValueError(f"binding of {binding.aor} saved under {aor}")
        with self._transaction():
            if remove:
                self._db.executemany(
                    "DELETE FROM bindings WHERE aor = ? AND key = ?", [(aor, k) for k in remove]
                )
            if save:
                self._db.executemany(_INSERT_BINDING, [_binding_row(b) for b in save])
        # The index follows the committed database, never the other way round.
        self._index.discard(aor, remove)
        for binding in save:
            self._index.put(binding)

    def remove_aor(self, aor: str) -> int:
        with self._transaction():
            self._db.execute("DELETE FROM bindings WHERE aor = ?", (aor,))
        return self._index.discard(aor)

    def expire(self, now: float) -> list[Binding]:
        expired = self._index.pop_expired(now)
        if expired:
            with self._transaction():
                self._db.executemany(
                    "DELETE FROM bindings WHERE aor = ? AND key = ? AND expires_at <= ?",
                    [(b.aor, b.key, now) for b in expired],
                )
        return expired

    def count(self) -> int:
        return len(self._index)

    def all_bindings(self, now: float) -> list[Binding]:
        return self._index.all(now)

    # -- CdrStore -----------------------------------------------------------------------
    def append_cdr(self, record: CdrRecord) -> int:
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO cdrs (start_time, caller, callee, cause, call_ids, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (record.start_time, record.caller, record.callee, record.cause,
                 json.dumps(list(record.call_ids)), json.dumps(record.data)),
            )  # fmt: skip
            cdr_id = cursor.lastrowid
            assert cdr_id is not None
            self._db.executemany(
                "INSERT OR IGNORE INTO cdr_call_ids (call_id, cdr_id) VALUES (?, ?)",
                [(call_id, cdr_id) for call_id in record.call_ids],
            )
        return cdr_id

    def list_cdrs(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        caller: str | None = None,
        callee: str | None = None,
        call_id: str | None = None,
        cause: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[CdrRecord]:
        where: list[str] = []
        args: list[Any] = []
        for clause, value in (
            ("start_time >= ?", since),
            ("start_time < ?", until),
            ("caller = ?", caller),
            ("callee = ?", callee),
            ("cause = ?", cause),
            ("id IN (SELECT cdr_id FROM cdr_call_ids WHERE call_id = ?)", call_id),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        sql = "SELECT id, start_time, caller, callee, cause, call_ids, data FROM cdrs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_time DESC, id DESC LIMIT ? OFFSET ?"
        rows = self._db.execute(sql, (*args, max(0, limit), max(0, offset)))
        return [
            CdrRecord(
                id=row[0],
                start_time=row[1],
                caller=row[2],
                callee=row[3],
                cause=row[4],
                call_ids=tuple(json.loads(row[5])),
                data=json.loads(row[6]),
            )
            for row in rows
        ]


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error); sqlite errors -> StoreError."""

    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"database unavailable: {exc}") from None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            try:
                self._db.execute("COMMIT")
                return
            except sqlite3.Error as commit_error:
                self._db.execute("ROLLBACK")
                raise StoreError(f"commit failed: {commit_error}") from None
        self._db.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
            raise StoreError(f"database error: {exc}") from exc


def open_store(data_dir: str | os.PathLike[str], *, synchronous: str = "NORMAL") -> SqliteStore:
    """The store of a data directory (created, mode 0700, when missing)."""
    directory = Path(data_dir)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create data directory {directory}: {exc.strerror}") from None
    return SqliteStore(directory / DATABASE_NAME, synchronous=synchronous)
