"""German and English pages with Flask-Babel, following the launch's locale.

The language of a page is, in order: the locale of the LTI launch kept in the browser
session (``de-DE`` → German), else the browser's ``Accept-Language`` (error pages, the
development platform), else English. The core's refusal messages are English templates
marked with :func:`plugin.errors.N_`; :func:`error_text` shows them translated. Catalogues
live in ``lti/translations``; the source language is English, so an untranslated message
shows in English, never as a key.

Use :func:`_` (``gettext`` with ``%(name)s`` placeholders) in Python, ``{{ _('…') }}`` in
templates (Flask-Babel's Jinja extension, new-style: variables are escaped), and
:func:`lazy_gettext` for texts defined at import time (form labels, catalogues).

Maintaining the catalogues (``make translations``)::

    pybabel extract -F babel.cfg -k lazy_gettext -k N_ -o lti/translations/messages.pot .
    pybabel update -i lti/translations/messages.pot -d lti/translations
    # translate lti/translations/de/LC_MESSAGES/messages.po, then
    pybabel compile -d lti/translations

``tests/lti/test_i18n.py`` fails when the compiled catalogue is stale or a German
translation is missing.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g, has_request_context, request
from flask_babel import Babel, format_decimal, get_locale, refresh
from flask_babel import gettext as _gettext
from flask_babel import lazy_gettext as _lazy_gettext
from flask_babel import ngettext as _ngettext

from plugin.errors import Msg, PluginError, Refusal

__all__ = [
    "LANGUAGES",
    "_",
    "current_language",
    "error_text",
    "init_app",
    "language_of",
    "lazy_gettext",
    "message_text",
    "ngettext",
    "number",
]

#: The languages Tandem's pages speak; the first is the source language.
LANGUAGES = ("en", "de")


def language_of(locale: str | None) -> str:
    """``de`` for any German locale (``de``, ``de-DE``, ``de_AT``), else ``en``."""
    return "de" if (locale or "").strip().lower()[:2] == "de" else "en"


def _select_locale() -> str:
    ws = g.get("tandem_web_session") if has_request_context() else None
    if ws is not None and getattr(ws, "locale", None):
        return language_of(ws.locale)
    if has_request_context():
        return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]
    return LANGUAGES[0]


def session_loaded() -> None:
    """Choose the page's language again: this request's browser session is now known.

    Flask-Babel keeps the first language it picks for the rest of the request; a text
    translated before the session was loaded (a form built early, a refusal raised
    before the view read the session) would otherwise fix the whole page to the
    browser's language instead of the launch's.
    """
    if has_request_context():
        refresh()


def current_language() -> str:
    """The language of the page being rendered (``en`` or ``de``)."""
    return language_of(str(get_locale() or LANGUAGES[0]))


def _(message: str, **variables: Any) -> str:
    """Translate ``message`` and fill its ``%(name)s`` placeholders."""
    return _gettext(message, **variables)


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """Translate a message with a singular and a plural form (``%(num)d`` is filled)."""
    return _ngettext(singular, plural, num, **variables)


def lazy_gettext(message: str, **variables: Any) -> Any:
    """A translation looked up when the text is used (for texts defined at import time)."""
    return _lazy_gettext(message, **variables)


def error_text(exc: PluginError) -> str:
    """A core error's message in the page's language (its English text when untranslated)."""
    return exc.render(_gettext)


def message_text(value: object) -> str:
    """A message of the core in the page's language: an error, a refusal, a marked word.

    :class:`~plugin.errors.PluginError` and :class:`~plugin.errors.Refusal` (e.g. the
    reasons of :func:`plugin.services.assessments.my_assessments`) are translated with their
    values, a :class:`~plugin.errors.Msg` is looked up; other text is shown as it is.
    Templates use it as the ``message`` filter: ``{{ reason|message }}``.
    """
    if isinstance(value, PluginError | Refusal):
        return value.render(_gettext)
    if isinstance(value, Msg):
        return _gettext(str(value))
    return "" if value is None else str(value)


def number(value: float | None, places: int = 1) -> str:
    """A number in the page's language (``1,5`` in German), at most ``places`` decimals.

    Templates use it as the ``number`` filter: ``{{ seconds|number }}``; ``–`` for none.
    """
    if value is None:
        return "–"
    pattern = "#,##0" + ("." + "#" * places if places > 0 else "")
    return str(format_decimal(value, format=pattern))


def init_app(app: Flask) -> None:
    """Install Flask-Babel with Tandem's locale selector and catalogues."""
    app.add_template_filter(message_text, "message")
    app.add_template_filter(number, "number")
    app.config.setdefault("BABEL_DEFAULT_LOCALE", LANGUAGES[0])
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    Babel(app, locale_selector=_select_locale)
