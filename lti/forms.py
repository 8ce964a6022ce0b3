"""Server-side form handling for the pages: marshmallow validates, errors go beside fields.

A page's POST view does::

    ws = web_session.require()
    form = forms.parse(SessionLogForm(), request.form)   # checks CSRF first
    if not form.ok:
        return render(..., form=form), 400                # nothing written
    service_call(**form.data)

and its template renders each input with the ``field`` macro of
``pages/_forms.html``, which shows ``form.errors[name]`` beside the field and links it
with ``aria-describedby`` / ``aria-invalid``. A :class:`plugin.errors.PluginError` raised by
the service is shown the same way (:meth:`Form.fail`): on its field when it names one,
otherwise above the form. Schemas use ``unknown = RAISE`` semantics only for names the
page does not send itself (``csrf_token`` is removed before loading).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import EXCLUDE, Schema
from marshmallow import ValidationError as SchemaError
from werkzeug.datastructures import MultiDict

from lti import web_session
from lti.i18n import error_text
from plugin.errors import PluginError

__all__ = ["Form", "FormSchema", "parse"]


class FormSchema(Schema):
    """Base of page form schemas: unknown inputs are ignored (buttons, the CSRF token)."""

    class Meta:
        """Forms post extra names (submit buttons); they are not data."""

        unknown = EXCLUDE


@dataclass
class Form:
    """A submitted form: the values as typed, the validated data, and errors by field.

    Attributes:
        values: What the user sent (re-shown in the fields after an error).
        data: The validated data (empty while there are errors).
        errors: Error messages by field name; ``_form`` for the form as a whole.
    """

    values: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the form validated."""
        return not self.errors

    def value(self, name: str, default: Any = "") -> Any:
        """The value to show in field ``name``."""
        return self.values.get(name, default)

    def error(self, name: str) -> str | None:
        """The first error of field ``name`` (None when it is fine)."""
        found = self.errors.get(name)
        return found[0] if found else None

    def fail(self, exc: PluginError) -> Form:
        """Record a domain refusal on its field (or on the whole form) and return self."""
        self.errors.setdefault(exc.field if exc.field in self.values else "_form", []).append(
            error_text(exc)
        )
        self.data = {}
        return self


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix and key != "_schema" else str(key)
            if key == "_schema":
                name = "_form"
            for k, v in _flatten(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(messages, list):
        for item in messages:
            if isinstance(item, str):
                out.setdefault(prefix or "_form", []).append(item)
            else:
                for k, v in _flatten(item, prefix).items():
                    out.setdefault(k, []).extend(v)
    elif isinstance(messages, str):
        out.setdefault(prefix or "_form", []).append(messages)
    return out


def parse(
    schema: Schema, submitted: MultiDict[str, str] | Mapping[str, Any], *, csrf: bool = True
) -> Form:
    """Check the CSRF token, then load ``submitted`` through ``schema``.

    Fields the schema declares as lists (``fields.List``) receive every value of the name.

    Raises:
        BadRequest: The CSRF token is missing or wrong (from :func:`web_session.check_csrf`).
    """
    if csrf:
        web_session.check_csrf(web_session.require())
    values: dict[str, Any] = {}
    for name, declared in schema.fields.items():
        key = declared.data_key or name
        if isinstance(submitted, MultiDict):
            got = submitted.getlist(key)
            if type(declared).__name__ == "List":
                values[key] = [v for v in got if v != ""]
            elif got:
                values[key] = got[0]
        elif key in submitted:
            values[key] = submitted[key]
    # An empty input is a missing value: `required` fields say so, optional ones keep None.
    loadable = {k: v for k, v in values.items() if not (isinstance(v, str) and v.strip() == "")}
    try:
        data = schema.load(loadable)
    except SchemaError as exc:
        return Form(values=values, errors=_flatten(exc.messages))
    return Form(values=values, data=dict(data))
