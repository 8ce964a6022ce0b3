"""What the sink and connector registries share: a config mapping of names to dotted paths.

``TANDEM_SINKS`` and ``TANDEM_CONNECTORS`` both map a name to ``package.module:Factory``,
merged over built-ins (a built-in mapped to ``null`` is switched off), and both import their
factories lazily, on first use, so building the app imports no connector package.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.utils import ImportStringError, import_string

__all__ = ["LazyImport", "dotted_paths"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DOTTED = re.compile(r"^[A-Za-z_][\w.]*[:.][A-Za-z_]\w*$")


def dotted_paths(
    configured: Any,
    builtins: Mapping[str, str],
    *,
    setting: str,
    key: str,
    noun: str,
    name_label: str,
) -> dict[str, str]:
    """The enabled ``name → dotted path`` entries: the built-ins overridden by ``configured``.

    Args:
        configured: The config value (a mapping, or None for none).
        builtins: What every deployment has.
        setting: The environment variable, for messages (``TANDEM_SINKS``).
        key: What the mapping's keys are, for messages (``name``, ``kind``).
        noun: What an entry is, for messages (``sink``, ``connector``).
        name_label: How a bad key is introduced in messages (``sink name``).

    Raises:
        RuntimeError: Not a mapping, a badly formed name or a value that is no dotted path.
    """
    configured = configured or {}
    if not isinstance(configured, Mapping):
        raise RuntimeError(f'{setting} must be a JSON object of {key} -> "package.module:Factory"')
    merged: dict[Any, Any] = {**builtins, **configured}
    out: dict[str, str] = {}
    for name, dotted in sorted(merged.items()):
        if dotted is None:
            continue
        if not isinstance(name, str) or not _NAME.match(name):
            raise RuntimeError(
                f"{name_label} {name!r} in {setting}: use lower-case letters, digits and '_'"
            )
        if not isinstance(dotted, str) or not _DOTTED.match(dotted):
            raise RuntimeError(
                f'{noun} {name!r} in {setting} must be a dotted path like "package.module:Factory"'
            )
        out[name] = dotted
    return out


class LazyImport:
    """An object imported from its dotted path on first use (thread-safe, imported once)."""

    def __init__(self, dotted: str, *, on_error: Callable[[ImportStringError], Exception]) -> None:
        """Remember where the object is; import nothing yet.

        Args:
            dotted: ``package.module:Name``.
            on_error: Builds the error raised when it cannot be imported.
        """
        self.dotted = dotted
        self._on_error = on_error
        self._loaded: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        """Import the object (once)."""
        with self._lock:
            if self._loaded is None:
                try:
                    self._loaded = import_string(self.dotted)
                except ImportStringError as exc:
                    raise self._on_error(exc) from None
            return self._loaded
