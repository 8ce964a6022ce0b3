"""The journal sink: write-back messages appended to a local JSON-lines file.

The embedded default target for demos, and a plain export for organizations without an
HRIS connection. See :class:`connectors.journal.sink.JournalSink`.
"""

from __future__ import annotations

from connectors.journal.sink import DEFAULT_FILENAME, JournalSink

__all__ = ["DEFAULT_FILENAME", "JournalSink"]
