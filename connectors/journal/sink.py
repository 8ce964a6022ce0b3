"""A sink that appends each delivered write-back message to a JSON-lines file.

One line per message::

    {"delivered_at": "2026-09-01T10:00:00+00:00", "idempotency_key": "completion:p3:e17:journal",
     "org_id": 1, "kind": "completion", "target": "journal", "payload": {...}}

Guarantees, for any number of threads and processes writing the same file:

* **Idempotent.** A message whose ``(org_id, idempotency_key)`` is already in the file is
  not written again. Each process keeps an index of the keys in the file, built on first
  use and brought up to date from the bytes other processes appended since.
* **No interleaving.** Every append happens under an exclusive ``flock`` on the file, and
  the index is checked under the same lock.
* **Durable.** The line is ``fsync``-ed before :meth:`JournalSink.deliver` returns (and the
  directory, when the file was just created).
* **Crash-tolerant.** A line torn by a writer that died mid-write is terminated and
  ignored; the message it belonged to is written again in full by the retry.

Settings (``tandem targets add --org ORG journal --sink journal [--setting path=FILE]``):

``path``
    The file. Relative paths resolve against the registry's data directory (the app's
    instance folder) or, without one, the working directory. Default
    ``writeback-journal.jsonl`` (so ``instance/writeback-journal.jsonl`` under ``make run``).

The file holds personal data (payloads); it is created readable by its owner only.
POSIX only (``fcntl``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from plugin.errors import ConnectorDataError, ConnectorUnavailable
from plugin.ports import OutboundMessage, SinkConfigError, TargetConfig

__all__ = ["DEFAULT_FILENAME", "JournalSink", "resolve_path"]

log = logging.getLogger(__name__)

#: The journal's file name when the target sets no ``path``.
DEFAULT_FILENAME = "writeback-journal.jsonl"
_FALLBACK_DIR = "instance"
_SETTINGS = frozenset({"path"})


def _utcnow() -> datetime:
    return datetime.now(UTC)


def resolve_path(config: TargetConfig) -> str:
    """The absolute journal path of a target (no I/O).

    Raises:
        SinkConfigError: Unknown settings, or a ``path`` that is not a non-empty string.
    """
    unknown = sorted(set(config.settings) - _SETTINGS)
    if unknown:
        raise SinkConfigError(
            f"unknown setting(s) {', '.join(unknown)} for the journal sink; it takes: path",
            field="settings",
        )
    raw = config.settings.get("path", DEFAULT_FILENAME)
    if not isinstance(raw, str) or not raw.strip():
        raise SinkConfigError("the journal's path must be a file name", field="settings.path")
    path = os.path.expanduser(raw.strip())
    if not os.path.isabs(path):
        base = config.data_dir if config.data_dir else os.path.join(os.getcwd(), _FALLBACK_DIR)
        path = os.path.join(base, path)
    return os.path.abspath(path)


@dataclass
class _Index:
    """The keys already in one journal file, as of byte ``offset``."""

    device: int
    inode: int
    offset: int = 0
    keys: set[tuple[int, str]] = field(default_factory=set)
    #: The file ends in a torn line (no newline): terminate it before appending.
    torn: bool = False


# One index per file per process; only read or changed while holding the file's flock.
_INDEXES: dict[str, _Index] = {}
_INDEXES_LOCK = threading.Lock()


class JournalSink:
    """Appends write-back messages to a JSON-lines file, once per idempotency key."""

    name: ClassVar[str] = "journal"

    def __init__(
        self, config: TargetConfig, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        """Build the sink of one target; validates settings, touches no file.

        Args:
            config: The target (``settings["path"]`` optional).
            clock: The time written as ``delivered_at`` (default: now, UTC).

        Raises:
            SinkConfigError: Bad settings.
        """
        self.config = config
        self.path = resolve_path(config)
        self._clock = clock or _utcnow

    def deliver(self, message: OutboundMessage) -> None:
        """Append ``message`` unless its key is already in the file; fsync before returning.

        Raises:
            ConnectorDataError: The message belongs to another organization than the
                target, or its payload is not JSON.
            ConnectorUnavailable: The file cannot be written now (disk full, permissions);
                retried later.
        """
        if message.org_id != self.config.org_id:
            raise ConnectorDataError(
                f"message {message.id} belongs to organization {message.org_id}, "
                f"not to the target's organization {self.config.org_id}",
                connector=self.name,
            )
        record = {
            "delivered_at": self._clock().isoformat(),
            "idempotency_key": message.idempotency_key,
            "org_id": message.org_id,
            "kind": message.kind,
            "target": message.target,
            "payload": dict(message.payload),
        }
        try:
            line = json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise ConnectorDataError(
                f"message {message.id}: the payload is not JSON ({type(exc).__name__})",
                connector=self.name,
            ) from None
        try:
            self._append((message.org_id, message.idempotency_key), line.encode("utf-8"))
        except OSError as exc:
            raise ConnectorUnavailable(
                f"cannot write the journal {self.path}: {exc.strerror or type(exc).__name__}",
                connector=self.name,
            ) from None

    # ------------------------------------------------------------------ file

    def _append(self, key: tuple[int, str], data: bytes) -> None:
        directory = os.path.dirname(self.path)
        os.makedirs(directory, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                with _INDEXES_LOCK:
                    index = self._index(fd)
                    if key in index.keys:
                        return
                    created = index.offset == 0
                    if index.torn:
                        data = b"\n" + data
                    _write_all(fd, data)
                    os.fsync(fd)
                    if created:
                        _fsync_dir(directory)
                    index.keys.add(key)
                    index.offset += len(data)
                    index.torn = False
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _index(self, fd: int) -> _Index:
        """The file's index, updated with whatever was appended since it was last read."""
        stat = os.fstat(fd)
        index = _INDEXES.get(self.path)
        if (
            index is None
            or (index.device, index.inode) != (stat.st_dev, stat.st_ino)
            or stat.st_size < index.offset
        ):
            # New, replaced or truncated file: read it from the start.
            index = _Index(stat.st_dev, stat.st_ino)
            _INDEXES[self.path] = index
        if stat.st_size > index.offset:
            chunk = os.pread(fd, stat.st_size - index.offset, index.offset)
            lines = chunk.split(b"\n")
            tail = lines.pop()
            for raw in lines:
                found = _key_of(raw)
                if found is not None:
                    index.keys.add(found)
            if tail:
                # A writer died mid-line. A complete record merely missing its newline
                # still counts; anything shorter is not JSON and is ignored.
                found = _key_of(tail)
                if found is not None:
                    index.keys.add(found)
                log.warning("journal %s ends in a torn line; it will be terminated", self.path)
            index.torn = bool(tail)
            index.offset = stat.st_size
        return index


def _key_of(raw: bytes) -> tuple[int, str] | None:
    if not raw.strip():
        return None
    try:
        record: Any = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    org_id, key = record.get("org_id"), record.get("idempotency_key")
    if isinstance(org_id, int) and isinstance(key, str):
        return org_id, key
    return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: str) -> None:
    # Makes the new file's directory entry durable too (POSIX).
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
