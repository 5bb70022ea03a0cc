"""A size-rotated output file that is cheap to write to and never raises.

Trace writers call :meth:`RotatingFile.write` from the transport's hot path with one
whole record (a siptrace block, a pcap packet).  Records are buffered in memory and
written out together: at the end of the current event-loop iteration (``call_soon``),
when the buffer grows past ``flush_bytes``, or at once when no loop is running.  A
record is never split across two files, so every rotated file reads on its own.

Write errors (disk full, directory removed) are counted in :attr:`errors`, logged once,
and the records they concern are dropped; the next flush tries to open the file again.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import BinaryIO

__all__ = ["RotatingFile"]

logger = logging.getLogger("sipline.trace")


class RotatingFile:
    """``path``, then ``path.1`` ... ``path.<backups>`` (oldest), each up to ``max_bytes``.

    ``header`` starts every file (a pcap global header); an existing file that does not
    start with it is rotated away rather than appended to.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int,
        backups: int,
        header: bytes = b"",
        flush_bytes: int = 1 << 16,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = max(backups, 0)
        self.header = header
        self.flush_bytes = flush_bytes
        self.errors = 0  # records lost to write errors
        self.records_written = 0
        self._file: BinaryIO | None = None
        self._size = 0
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._scheduled = False
        self._logged = False

    def write(self, record: bytes) -> None:
        """Queue one whole record; written before the loop next waits for I/O."""
        self._pending.append(record)
        self._pending_bytes += len(record)
        if self._pending_bytes >= self.flush_bytes:
            self.flush()
        elif not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._scheduled = True
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what is queued (rotating as needed); never raises."""
        self._scheduled = False
        if not self._pending:
            return
        records, self._pending, self._pending_bytes = self._pending, [], 0
        try:
            self._write_records(records)
        except OSError as error:
            self._failed(error, records)

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            try:
                self._file.close()
            except OSError as error:
                self._failed(error, [])
            self._file = None

    def _write_records(self, records: list[bytes]) -> None:
        file = self._open()
        batch: list[bytes] = []
        size = self._size
        for record in records:
            has_records = batch or size > len(self.header)
            if has_records and size + len(record) > self.max_bytes:
                self._put(file, batch, size)
                batch = []
                file = self._rotate()
                size = self._size
            batch.append(record)
            size += len(record)
        self._put(file, batch, size)

    def _put(self, file: BinaryIO, batch: list[bytes], size: int) -> None:
        if batch:
            file.write(b"".join(batch))
            file.flush()
            self.records_written += len(batch)
        self._size = size

    def _open(self) -> BinaryIO:
        if self._file is not None:
            return self._file
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = self.path.open("ab")
        self._file = file
        self._size = file.tell()
        if self._size and self.header:
            with self.path.open("rb") as existing:
                if existing.read(len(self.header)) != self.header:
                    return self._rotate()
        if self._size == 0 and self.header:
            file.write(self.header)
            self._size = len(self.header)
        return file

    def _rotate(self) -> BinaryIO:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.backups:
            for number in range(self.backups - 1, 0, -1):
                older = self._backup(number)
                if older.exists():
                    os.replace(older, self._backup(number + 1))
            os.replace(self.path, self._backup(1))
        else:
            self.path.unlink(missing_ok=True)
        file = self.path.open("wb")
        self._file = file
        file.write(self.header)
        self._size = len(self.header)
        return file

    def _backup(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{number}")

    def _failed(self, error: OSError, records: list[bytes]) -> None:
        self.errors += len(records)
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
        if not self._logged:
            self._logged = True
            logger.warning(
                "trace file %s: cannot write (%s); records are dropped and counted, "
                "this is logged once",
                self.path,
                error.strerror or error,
            )


class FileTraceWriter:
    """What the file writers share: a ``RotatingFile`` and its path, errors and life."""

    file: RotatingFile

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def errors(self) -> int:
        return self.file.errors

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()
