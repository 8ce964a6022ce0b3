"""The German catalogue is complete and compiled, and pages follow the launch's language.

A string marked with ``_()`` that nobody translated fails here (not in production, where
it would silently show in English): run ``make translations``, translate the new entries
of ``lti/translations/de/LC_MESSAGES/messages.po`` and commit the ``.po`` and ``.mo``.
"""

from __future__ import annotations

import gettext
import io
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, render_template
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from plugin.models import Person
from tests.lti.web_login import install_test_login
from tests.plugin.tracking import conftest as tracking

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "lti" / "translations"
PO = TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po"
MO = TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.mo"
BABEL_CFG = ROOT / "babel.cfg"

HOW_TO_FIX = (
    "Run `make translations`, translate the entries in "
    "lti/translations/de/LC_MESSAGES/messages.po (natural German, 'Sie' form, %(name)s "
    "placeholders unchanged, no '#, fuzzy' left) and commit the .po together with the "
    "compiled .mo."
)

world = tracking.world


# --------------------------------------------------------------------------- helpers


def _read_po(path: Path = PO) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale="de")


def _mo_messages(data: bytes) -> dict[Any, str]:
    """What gettext sees in a compiled catalogue (header entry included)."""
    return dict(gettext.GNUTranslations(io.BytesIO(data))._catalog)  # type: ignore[attr-defined]


def _compiled(catalog: Catalog) -> bytes:
    """The catalogue compiled as ``pybabel compile`` does (fuzzy entries left out)."""
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def extract(tmp_path: Path, *, config: Path = BABEL_CFG) -> Catalog:
    """Extract the messages as ``make translations`` does, into ``tmp_path``."""
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(
        [
            "pybabel",
            "--quiet",
            "extract",
            "--mapping-file",
            str(config),
            "--keyword",
            "lazy_gettext",
            "--keyword",
            "N_",
            "--no-location",
            "--sort-output",
            "--output-file",
            str(pot),
            str(ROOT),
        ]
    )
    with pot.open("rb") as fh:
        return read_po(fh)


def _key(message_id: Any) -> str:
    return message_id[0] if isinstance(message_id, tuple) else message_id


def untranslated(extracted: Catalog, catalog: Catalog) -> list[str]:
    """The problems of ``catalog`` against the source: one line per message."""
    problems: list[str] = []
    for source in extracted:
        if not source.id:
            continue
        found = catalog.get(source.id)
        if found is None:
            problems.append(f"missing:       {_key(source.id)!r}")
            continue
        forms = found.string if isinstance(found.string, tuple | list) else (found.string,)
        if found.fuzzy:
            problems.append(f"fuzzy:         {_key(source.id)!r}")
        elif not all(forms):
            problems.append(f"untranslated:  {_key(source.id)!r}")
    for message, errors in catalog.check():
        if message.id and not message.fuzzy and errors:
            problems.append(f"placeholders:  {_key(message.id)!r}: {errors[0]}")
    return problems


# --------------------------------------------------------------------------- catalogue


def test_compiled_catalogue_matches_the_po_file() -> None:
    committed = _mo_messages(MO.read_bytes())
    fresh = _mo_messages(_compiled(_read_po()))
    stale = sorted(str(k) for k in committed.keys() ^ fresh.keys() if k != "") + sorted(
        str(k) for k in committed.keys() & fresh.keys() if committed[k] != fresh[k]
    )
    assert not stale, (
        "lti/translations/de/LC_MESSAGES/messages.mo is stale; run "
        "`pybabel compile -d lti/translations` (or `make translations`) and commit it. "
        f"Differences: {stale[:10]}"
    )


def test_every_marked_string_has_a_german_translation(tmp_path: Path) -> None:
    problems = untranslated(extract(tmp_path), _read_po())
    assert not problems, (
        f"{len(problems)} German translation(s) missing or unusable:\n  "
        + "\n  ".join(problems[:40])
        + f"\n{HOW_TO_FIX}"
    )


def test_the_catalogue_check_catches_gaps(tmp_path: Path) -> None:
    """The check above fails for a new, a fuzzy and a broken entry (not vacuous)."""
    source = Catalog(locale="de")
    for text in ("Brand new text", "Fuzzy text", "Hello %(name)s"):
        source.add(text, flags=("python-format",) if "%(" in text else ())
    catalog = Catalog(locale="de")
    catalog.add("Fuzzy text", "Unscharfer Text", flags=("fuzzy",))
    catalog.add("Hello %(name)s", "Hallo %(nme)s", flags=("python-format",))
    problems = untranslated(source, catalog)
    assert any(p.startswith("missing:") and "Brand new text" in p for p in problems)
    assert any(p.startswith("fuzzy:") for p in problems)
    assert any(p.startswith("placeholders:") for p in problems)


def test_the_german_catalogue_speaks_in_the_sie_form() -> None:
    """Professional German: the pages address people as "Sie", never "du"."""
    informal = re.compile(r"\b(du|dich|dir|dein\w*|euch|euer\w*)\b", re.IGNORECASE)
    offenders = [
        (m.id, m.string)
        for m in _read_po()
        if m.id
        for form in (m.string if isinstance(m.string, tuple | list) else (m.string,))
        if form and informal.search(re.sub(r"%\(\w+\)s|<[^>]+>", "", form))
    ]
    assert not offenders, offenders[:10]


# --------------------------------------------------------------------------- pages


@pytest.fixture
def db_session(app: Flask, engine: Engine) -> Iterator[Session]:
    """Overrides the rolled-back session: the app reads committed rows only."""
    session = Session(bind=engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture
def login(app: Flask, client: Any) -> Any:
    """``login(person, locale)`` starts a session as a launch with that locale would."""
    start = install_test_login(app, client)

    def _login(person: Person, locale: str) -> None:
        start(person, locale=locale)

    return _login


@pytest.fixture
def member(db_session: Session, world: Any) -> Person:
    db_session.commit()
    return world.outsider  # an employee of the organization, in no program


def html_lang(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)">', html)
    assert found, html[:200]
    return found.group(1)


def test_a_german_launch_renders_german(client: Any, login: Any, member: Person) -> None:
    login(member, "de-DE")
    html = client.get("/app/", headers={"Accept-Language": "en"}).text  # the launch wins
    assert html_lang(html).split("-")[0] == "de"
    assert "<h1>Meine Programme</h1>" in html
    assert "Noch nichts vorhanden" in html
    assert "Zum Inhalt springen" in html
    assert "Nothing here yet" not in html


def test_an_english_launch_renders_english(client: Any, login: Any, member: Person) -> None:
    login(member, "en")
    html = client.get("/app/", headers={"Accept-Language": "de"}).text  # the launch wins
    assert html_lang(html) == "en"
    assert "<h1>My programs</h1>" in html
    assert "Nothing here yet" in html


def test_a_launch_in_a_language_without_catalogue_renders_english(
    client: Any, login: Any, member: Person
) -> None:
    login(member, "fr-FR")
    html = client.get("/app/").text
    assert html_lang(html) == "en"  # the text is English, so is its declared language
    assert "<h1>My programs</h1>" in html


@pytest.mark.parametrize(
    ("accept", "lang", "title", "hint"),
    [
        ("de-DE,de;q=0.9,en;q=0.5", "de", "Bitte öffnen Sie Tandem aus Ihrem Kurs", "Fehlercode"),
        ("en-GB,en;q=0.8", "en", "Please open Tandem from your course", "Error code"),
        ("fr-FR", "en", "Please open Tandem from your course", "Error code"),
    ],
)
def test_without_a_session_accept_language_decides(
    client: Any, accept: str, lang: str, title: str, hint: str
) -> None:
    res = client.get("/app/", headers={"Accept-Language": accept})
    assert res.status_code == 401
    assert html_lang(res.text) == lang
    assert f"<h1>{title}</h1>" in res.text
    assert hint in res.text


def test_an_unknown_page_in_german(client: Any) -> None:
    res = client.get("/app/nowhere", headers={"Accept-Language": "de"})
    assert res.status_code == 404
    assert '<html lang="de">' in res.text
    assert "<h1>Seite nicht gefunden</h1>" in res.text


def _render(app: Flask, template: str, accept: str, **context: Any) -> str:
    with app.test_request_context("/", headers={"Accept-Language": accept}):
        return render_template(template, **context)


def test_lti_pages_without_a_session_follow_accept_language(app: Flask) -> None:
    registration = SimpleNamespace(name="moodle", issuer="https://lms.example", client_id="c1")
    context: dict[str, Any] = {
        "org_name": "Müller & <Söhne>",
        "org_slug": "mueller",
        "registration": registration,
        "deployment_id": "7",
        "auto_approve": False,
        "is_moodle": True,
        "services": [],
    }
    german = _render(app, "lti/dynreg_done.html", "de-CH,de;q=0.9", **context)
    assert '<html lang="de">' in german
    assert "<h1>Tandem ist für Müller &amp; &lt;Söhne&gt; registriert</h1>" in german
    # Markup of the catalogue stays markup; the values in it are escaped.
    assert "<strong>Müller &amp; &lt;Söhne&gt;</strong> aufrufen." in german
    assert "<code>7</code> (freigegeben)" in german
    english = _render(app, "lti/dynreg_done.html", "en-US", **context)
    assert "<h1>Tandem is registered for Müller &amp; &lt;Söhne&gt;</h1>" in english
    assert "<code>7</code> (approved)" in english


@pytest.mark.parametrize(
    ("seen", "invited", "expected"),
    [
        (1, 1, ("1 Mitglied eingelesen", "1 lernende Person ist jetzt")),
        (12, 3, ("12 Mitglieder eingelesen", "3 Lernende sind jetzt")),
    ],
)
def test_plural_forms_in_german(
    app: Flask, seen: int, invited: int, expected: tuple[str, str]
) -> None:
    result = SimpleNamespace(
        seen=seen,
        invited=invited,
        already_invited=0,
        already_enrolled=0,
        people_created=0,
        teachers=0,
        inactive=0,
        problems=[],
    )
    with app.test_request_context("/", headers={"Accept-Language": "de"}):
        html = render_template(
            "lti/roster_result.html", result=result, program_id=1, course="Kurs A"
        )
    for text in expected:
        assert text in html


def test_core_refusals_are_shown_in_the_page_language(app: Flask) -> None:
    from lti.i18n import error_text
    from plugin.errors import N_, PermissionDenied, ValidationError

    refusal = PermissionDenied(
        N_("only the members of tandem %(tandem)s may plan its sessions"), tandem=7
    )
    assert refusal.message == "only the members of tandem 7 may plan its sessions"
    wrapped = ValidationError(
        N_("the platform's registration response: %(problem)s"), problem=refusal
    )
    with app.test_request_context(headers={"Accept-Language": "de-DE"}):
        german = error_text(refusal)
        assert german != refusal.message
        assert "7" in german
        assert german in error_text(wrapped)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert error_text(refusal) == refusal.message
    # A message the catalogue does not know stays readable English.
    with app.test_request_context(headers={"Accept-Language": "de-DE"}):
        assert error_text(ValidationError("not in any catalogue")) == "not in any catalogue"


make_pair = tracking.make_pair


def test_statuses_roles_and_moves_in_refusals_are_translated(app: Flask) -> None:
    from lti.i18n import error_text, message_text
    from plugin.errors import N_, Msg, TrackingError, word
    from plugin.models import EnrollmentRole, TandemStatus
    from plugin.services import tandems

    refusal = TrackingError(
        N_("tandem %(tandem)s is %(status)s; it cannot be dissolved. From %(status)s: %(moves)s"),
        tandem=7,
        status=word(TandemStatus.COMPLETED),
        moves=tandems.ALLOWED_MOVES[TandemStatus.COMPLETED],
    )
    # English is exactly what it was with plain strings.
    assert refusal.message == (
        "tandem 7 is completed; it cannot be dissolved. "
        "From completed: nothing (completed is final and read-only)"
    )
    assert isinstance(word("mentor"), Msg)
    assert word(EnrollmentRole.MENTEE) == "mentee"
    assert word("not a status") == "not a status"
    assert not isinstance(word("x"), Msg)
    with app.test_request_context(headers={"Accept-Language": "de-DE"}):
        german = error_text(refusal)
        assert "„Abgeschlossen“" in german
        assert "completed" not in german
        assert german.startswith("Tandem 7 ")
        assert message_text(word("mentor")) == "Junior (Mentor:in)"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert error_text(refusal) == refusal.message


def test_required_text_messages_are_whole_sentences(app: Flask) -> None:
    from lti.i18n import error_text
    from plugin.errors import N_, Msg, ValidationError
    from plugin.validation import required_text

    def refusal(**kw: Any) -> ValidationError:
        with pytest.raises(ValidationError) as caught:
            required_text(kw.pop("value", " "), field="reason", limit=5, **kw)
        return caught.value

    missing = refusal(
        what=Msg(N_("a reason for declining")), message=N_("a reason for declining is required")
    )
    goal = refusal(what="goal 2", message=N_("goal %(index)s is required"), params={"index": 2})
    long = refusal(value="far too long", what=Msg(N_("a reason for dissolving")))
    assert missing.message == "a reason for declining is required"
    assert goal.message == "goal 2 is required"
    assert long.message == "a reason for dissolving is 12 characters long; at most 5 are allowed"
    with app.test_request_context(headers={"Accept-Language": "de-DE"}):
        assert error_text(missing) == "Bitte geben Sie eine Begründung für die Ablehnung an"
        assert error_text(goal) == "Bitte geben Sie Ziel 2 an"
        assert error_text(long).startswith("Die Begründung für die Auflösung ist 12 Zeichen")


def test_assessment_refusals_on_a_german_page(
    client: Any, login: Any, db_session: Session, world: Any, make_pair: Any
) -> None:
    import json

    from plugin.errors import Refusal
    from plugin.services import assessments

    pair = make_pair("accepted", running=False)  # the program is still enrolling
    db_session.commit()
    pid = world.program.id
    data = assessments.my_assessments(db_session, pair.mentor_actor, pid)
    entry = data["enrollments"][0]
    reason = entry["not_open"]["post"]
    # The CLI and JSON see today's English text.
    assert isinstance(reason, Refusal)
    assert isinstance(entry["survey_not_open"], Refusal)
    english = (
        f"the post-assessment opens when the program is running or closed; program {pid} is "
        "enrolling"
    )
    assert reason == english
    assert str(reason) == english
    assert reason.message == english
    assert json.loads(json.dumps(entry["not_open"])) == {
        k: str(v) for k, v in entry["not_open"].items()
    }
    login(pair.mentor, "de-DE")
    html = client.get(f"/app/programs/{pid}/self-assessment/post").text
    assert (
        "Die Selbsteinschätzung am Ende ist möglich, sobald das Programm läuft oder beendet ist; "
        f"Programm {pid} hat den Status „Anmeldung geöffnet“"
    ) in html.replace("\n", " ")
    assert "enrolling" not in html
    html = client.get(f"/app/programs/{pid}/survey").text
    assert f"Programm {pid} hat den Status „Anmeldung geöffnet“" in html
    assert "is enrolling" not in html
    login(pair.mentor, "en")
    assert english in client.get(f"/app/programs/{pid}/self-assessment/post").text
