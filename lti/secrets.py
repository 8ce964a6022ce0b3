"""The :class:`plugin.crypto.SecretBox` of an app, keyed by ``SECRET_KEY``.

Built on first use (the factory does no work) and kept in ``app.extensions``.
"""

from __future__ import annotations

from flask import Flask, current_app

from plugin.crypto import SecretBox

__all__ = ["EXTENSION", "get_secret_box"]

EXTENSION = "tandem.secret_box"


def get_secret_box(app: Flask | None = None) -> SecretBox:
    """The app's secret box (``TANDEM_SECRET_KEY``); the current app by default."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    box: SecretBox | None = app.extensions.get(EXTENSION)
    if box is None:
        box = SecretBox(str(app.config["SECRET_KEY"]))
        app.extensions[EXTENSION] = box
    return box
