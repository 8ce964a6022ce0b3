"""Start a browser session in page tests as a validated launch would (a test-only route)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, make_response, request

from lti import web_session
from lti.db import get_session
from plugin.models import Person

LoginFn = Callable[..., str]


def install_test_login(app: Flask, client: Any, *, default_role: str = "participant") -> LoginFn:
    """Add ``/_test/login/<person>/<role>`` to ``app``; returns ``login(person, role, **query)``.

    The query may carry ``locale`` and ``link`` (an LtiLink id); ``login`` returns the new
    session's CSRF token.
    """

    def _start(person_id: int, role: str) -> Any:
        person = get_session().get(Person, person_id)
        assert person is not None
        response = make_response("")
        ws = web_session.start(
            response,
            org_id=person.org_id,
            person_id=person.id,
            role=role,
            display_name=f"{person.given_name} {person.family_name}",
            locale=request.args.get("locale", "en"),
            link_id=request.args.get("link", type=int),
        )
        response.set_data(ws.csrf)
        return response

    app.add_url_rule("/_test/login/<int:person_id>/<role>", view_func=_start)

    def login(person: Person, role: str = default_role, **query: Any) -> str:
        client.delete_cookie(web_session.COOKIE)
        res = client.get(f"/_test/login/{person.id}/{role}", query_string=query)
        assert res.status_code == 200
        return str(res.text)

    return login
