"""German pages contain no English leftovers.

Three people launch in German (``de-DE``) into one organization with a lived-in program:
a junior with an active tandem (sessions held, planned and cancelled, feedback, goals, an
action, a pre-assessment), the coordinator of the running program (tandems, a second
program with matching proposals, invitations, alerts, write-back messages) and an HR admin
(a connection with a succeeded sync that quarantined a record, and a failed sync). Each
crawls every page reachable under ``/app/`` from the start page and the main detail pages
(GET only, same origin, CSV/JSON exports and static files left out), and a few invalid
forms are posted to see the field errors.

The visible text of each page — its text and the ``title``, ``aria-label``,
``placeholder`` and ``alt`` attributes and button labels, without ``<script>``,
``<style>`` and spots that show data verbatim (``<code>``, ``<pre>``, ``<kbd>``,
``<samp>``, ``<textarea>``, ``data-raw``, ``translate="no"``) — is searched for English
words (:data:`ENGLISH`). The seeded names and texts are German or neutral, so every hit is
a text of Tandem. A failure lists each page with the snippet around each hit.

The German catalogue must be compiled for this to pass; new strings stay English until
their translation is merged into ``lti/translations``.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from connectors.successfactors.settings import Settings
from lti import create_app, pages, pages_admin, pages_coordinator, web_session
from lti.db import get_engine
from plugin.access import Actor
from plugin.models import (
    Connection,
    LtiDeployment,
    LtiDeploymentStatus,
    OutboxMessage,
    OutboxStatus,
    Person,
    Program,
    ProgramCoordinator,
    ProgramInvitation,
    QuarantinedRecord,
    Skill,
    SkillCategory,
    SyncRun,
    SyncStatus,
)
from plugin.ports import ConnectionConfig
from plugin.services import alerts, assessments, enrollments, matching, sessions
from plugin.services import lti_registrations as regs
from plugin.services import tandems as tandem_services
from tests.conftest import wipe
from tests.lti.web_login import install_test_login
from tests.plugin.tracking import conftest as tracking

world = tracking.world
make_pair = tracking.make_pair
T0 = tracking.T0

PAGE_NOW = T0 + timedelta(days=10)  # 2026-03-12 09:00 UTC
SOURCE = "tests.lti.test_german_pages:QuietSource"
MAX_PAGES = 150
LOCALE = "de-DE"

# --------------------------------------------------------------------------- the English words

#: English function words and Tandem's status and UI words, matched as whole words in any
#: case. Words that are also ordinary German are left out on purpose: ``in``, ``an``,
#: ``was``, ``will``, ``so``, ``also``, ``man``, ``die``, ``hat``, ``all``; so are the terms
#: the German pages use as they are: Tandem, Junior, Senior, Mentor, Mentee, Status,
#: Team, Matching, Dashboard, Follow-up, Administration, Online, Video, Hybrid, E-Mail,
#: CSV, HR, LTI, the vendors' names, the German nouns and adjectives ``Name``, ``Note``,
#: ``Person``, ``Filter``, ``optional``, and the months
#: spelt alike in both languages (April, August, September, November).
ENGLISH = frozenset(
    " ".join(
        (
            "the and or not nor must is are be been being has have had does did do done of with",
            "for from to this that these those your you yours our we they their them it its",
            "please cannot can could should would shall may might than then which when where what",
            "who whom why how there here more less only about after before each every other into",
            "out off over under again yet still already any some no yes none nothing something",
            "anyone nobody everyone never always by at on as if but because while until between",
            "draft enrolling running closed pending failed delivered delivering dead proposed",
            "accepted active completed dissolved rejected planned held cancelled canceled open",
            "met dropped succeeded quarantined acknowledged resolved stalled withdrawn invited",
            "enrolled approved published locked unlocked declined expired revoked current previous",
            "in_progress one_to_one follow_up in_person bidirectional",
            "session sessions goal goals error errors invalid required missing unknown",
            "save cancel submit back next edit delete remove add show hide search send",
            "retry approve revoke rotate publish swap lock unlock reject decline accept withdraw",
            "enrol enroll enrolment enrollment enrolments enrollments program programs",
            "assessment assessments survey progress report alert alerts connection connections",
            "sync syncs run runs key keys settings date time minutes hours days months weeks",
            "month week today yesterday tomorrow rating comment comments notes",
            "january february march may june july october december",
            "monday tuesday wednesday thursday friday saturday sunday",
            "phone record records people partner partners agreement topic topics theme",
            "themes language languages message messages target targets level levels skill skills",
            "new see read learn help",
        )
    ).split()
)

#: Phrases the German pages use as they are, removed before the words are looked for.
#: Keep it short: each needs a reason.
ALLOWED_PHRASES = (
    # An established German loanword; the catalogue uses "Feedback" throughout.
    "Feedback",
    # Used by the German catalogue as it is ("Vereinbarung und Kick-off").
    "Kick-off",
    # The name of an LTI service (IMS Names and Role Provisioning Services), not prose.
    "Names and Role Provisioning",
    # Standards named with their version number, not decimals.
    "OAuth 2.0",
    "LTI 1.3",
    "LTI-1.3",
)

#: A decimal written the English way (``1.5``); German writes ``1,5`` (``1.000`` is a
#: thousand, so three digits after the point are left alone).
_ENGLISH_DECIMAL = re.compile(r"(?<![\w.,])\d+\.\d{1,2}(?![\w.])")
_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ_]+(?:'[A-Za-z]+)?")
_SKIP_TAGS = frozenset({"script", "style", "code", "pre", "kbd", "samp", "textarea"})
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
_TEXT_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")


class VisibleText(HTMLParser):
    """The text a reader sees or hears, in chunks; links found on the way."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.links: list[str] = []
        self._skip: list[str] = []  # the open elements whose content is left out

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        if self._skip:
            if tag == self._skip[-1] and tag not in _VOID_TAGS:
                self._skip.append(tag)
            return
        verbatim = "data-raw" in values or values.get("translate") == "no"
        if tag in _SKIP_TAGS or verbatim:
            if tag not in _VOID_TAGS:
                self._skip.append(tag)
            return
        for name in _TEXT_ATTRIBUTES:
            if values.get(name):
                self.chunks.append(str(values[name]))
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.chunks.append(str(values["value"]))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self._skip and self._skip[-1] == tag:
            self._skip.pop()

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.chunks.append(" ".join(data.split()))


def visible_text(html: str) -> tuple[str, list[str]]:
    """The page's visible text (chunks joined by `` | ``) and the links it holds."""
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return " | ".join(parser.chunks), parser.links


def english_hits(text: str, *, seeded: tuple[str, ...] = ()) -> list[str]:
    """A snippet around each English word of ``text``."""
    for phrase in seeded:  # data as it was seeded, in its own case
        text = re.sub(rf"(?<!\w){re.escape(phrase)}(?!\w)", " ", text)
    for phrase in ALLOWED_PHRASES:
        text = re.sub(rf"(?<!\w){re.escape(phrase)}(?!\w)", " ", text, flags=re.IGNORECASE)
    found = [m for m in _WORD.finditer(text) if m.group(0).lower() in ENGLISH]
    found += list(_ENGLISH_DECIMAL.finditer(text))
    hits = []
    for match in sorted(found, key=lambda m: m.start()):
        start, end = max(match.start() - 50, 0), min(match.end() + 50, len(text))
        hits.append(f"{match.group(0)!r} in …{text[start:end]}…")
    return hits


def test_the_detector_finds_english_and_leaves_german_and_verbatim_text() -> None:
    html = (
        "<html><head><title>Sitzungen</title><style>a{color:red}</style></head><body>"
        '<p>Ihre Sitzung ist geplant.</p><p title="Show the details">Details</p>'
        "<code>status = pending</code><pre>the raw record</pre>"
        '<div data-raw><span>{"name": "the"}</span></div>'
        "<p>Feedback geben</p><script>if (a) { return the; }</script>"
        '<input type="submit" value="Save"><p>Status: draft</p><p>1.5 Stunden, 1.000 Personen, '
        "1. März, 1,5</p></body></html>"
    )
    text, _links = visible_text(html)
    hits = english_hits(text)
    assert [h.split(" ", 1)[0] for h in hits] == ["'Show'", "'the'", "'Save'", "'draft'", "'1.5'"]


# --------------------------------------------------------------------------- the fake source


class QuietSource:
    """A SuccessFactors stand-in with the real settings checks and no people."""

    name = "successfactors"

    def __init__(self, config: ConnectionConfig) -> None:
        Settings.from_config(config)  # the real connector's checks (no I/O)

    def check(self) -> None:
        return None

    def iter_people(self, *, since: datetime | None = None) -> Iterator[list[Any]]:
        yield from ()


# --------------------------------------------------------------------------- app and data


@pytest.fixture
def app(database_url: str, engine: Engine, tmp_path: Any) -> Iterator[Flask]:
    application = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "CONNECTORS": {"successfactors": SOURCE},
        }
    )
    application.instance_path = str(tmp_path / "instance")
    yield application
    get_engine(application).dispose()
    wipe(engine)


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
def login(app: Flask, client: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(pages, "_now", lambda: PAGE_NOW)
    monkeypatch.setattr(pages_coordinator, "_now", lambda: PAGE_NOW)
    return install_test_login(app, client)


GERMAN_THEMES = [
    {"month": 1, "theme": "Neue Werkzeuge"},
    {"month": 2, "theme": "Teamkultur"},
    {"month": 3, "theme": "Einarbeitung"},
]
AGREEMENT = "Was im Tandem gesagt wird, bleibt im Tandem."


@dataclass
class Scene:
    world: Any
    junior: Person
    pair: Any
    second: Program
    held_id: int
    planned_id: int
    admin: Person
    waiting: list[Any]  # a tandem proposed to its members and an accepted one
    connection: str = "sf-haupt"
    runs: list[int] = field(default_factory=list)
    #: Seeded texts that happen to contain English-looking words.
    seeded: tuple[str, ...] = ()


@pytest.fixture
def scene(
    db_session: Session, world: Any, make_pair: Any, make_person: Any, make_program: Any
) -> Scene:
    org, program = world.org, world.program
    skills = [
        Skill(
            org_id=org.id,
            code="KI",
            name="KI-Werkzeuge",
            name_de="KI-Werkzeuge",
            category=SkillCategory.TECHNOLOGY,
        ),
        Skill(
            org_id=org.id,
            code="SOZIAL",
            name="Soziale Medien",
            name_de="Soziale Medien",
            category=SkillCategory.TECHNOLOGY,
        ),
    ]
    db_session.add_all(skills)
    db_session.flush()
    program.name = "Rückwärts-Mentoring 2026"
    program.description = "Nachwuchskräfte zeigen Führungskräften ihre Werkzeuge."
    program.confidentiality_text = AGREEMENT
    program.theme_plan = GERMAN_THEMES
    program.assessment_skills = ["KI", "SOZIAL"]
    db_session.flush()

    # The junior's assessment comes before the tandem starts.
    junior = make_person(org, given_name="Jana", family_name="Jung", job_level=2)
    senior = make_person(org, given_name="Sven", family_name="Seidel", job_level=9)
    enrollments.enroll(
        db_session,
        program=program,
        person=junior,
        role="mentor",
        consent=True,
        topics_offered={"KI": 5},
        actor="t",
    )
    assessments.submit_assessment(
        db_session,
        Actor.participant(org.id, junior.id),
        program.id,
        kind="pre",
        answers={"KI": 4, "SOZIAL": 2},
        now=T0 - timedelta(days=1),
    )
    pair = make_pair(mentor=junior, mentee=senior)
    pair.tandem.kickoff = {**pair.tandem.kickoff, "expectations": "Offen und ehrlich sein."}
    other = make_pair()

    held = sessions.log_session(
        db_session,
        pair.mentor_actor,
        pair.tandem.id,
        held_at=T0 + timedelta(days=2),
        minutes=60,
        topic="Neue Werkzeuge",
        now=T0 + timedelta(days=2),
    )
    sessions.set_notes(db_session, pair.mentor_actor, held.id, text="Notizen zur Sitzung", now=T0)
    sessions.give_feedback(
        db_session,
        pair.mentor_actor,
        held.id,
        rating=5,
        comment="Sehr hilfreich",
        safety_pulse=5,
        shared_with_partner=True,
        now=T0 + timedelta(days=3),
    )
    sessions.give_feedback(
        db_session,
        pair.mentee_actor,
        held.id,
        rating=4,
        comment="Gutes Gespräch",
        shared_with_partner=True,
        now=T0 + timedelta(days=3),
    )
    planned = sessions.plan_session(
        db_session,
        pair.mentee_actor,
        pair.tandem.id,
        scheduled_at=T0 + timedelta(days=30),
        planned_minutes=45,
        topic="Teamkultur",
        now=T0 + timedelta(days=4),
    )
    cancelled = sessions.plan_session(
        db_session,
        other.mentee_actor,
        other.tandem.id,
        scheduled_at=T0 + timedelta(days=20),
        now=T0,
    )
    sessions.cancel_session(
        db_session,
        other.mentee_actor,
        cancelled.id,
        reason="Dienstreise",
        now=T0 + timedelta(days=5),
    )
    goal = tandem_services.add_goal(
        db_session,
        pair.mentor_actor,
        pair.tandem.id,
        title="Ein KI-Werkzeug im Alltag nutzen",
        description="Jede Woche einmal",
        due_on=date(2026, 5, 1),
        now=T0 + timedelta(days=3),
    )
    tandem_services.set_goal_status(
        db_session, pair.mentor_actor, goal.id, status="in_progress", now=T0 + timedelta(days=4)
    )
    met = tandem_services.add_goal(
        db_session,
        pair.mentee_actor,
        pair.tandem.id,
        title="Ein Teamboard einführen",
        now=T0 + timedelta(days=3),
    )
    tandem_services.set_goal_status(
        db_session, pair.mentee_actor, met.id, status="met", now=T0 + timedelta(days=5)
    )
    tandem_services.log_action(
        db_session,
        pair.mentee_actor,
        pair.tandem.id,
        description="Besprechungen mit gemeinsamer Tafel",
        taken_on=date(2026, 3, 6),
        now=T0 + timedelta(days=5),
    )
    proposed = make_pair("proposed")
    accepted = make_pair("accepted")
    alerts.scan_program(db_session, program.id, now=T0 + timedelta(days=70))

    # A second program, matched: proposals and an unmatched senior.
    second = make_program(
        org,
        name="Zweite Runde 2026",
        confidentiality_text=AGREEMENT,
        theme_plan=GERMAN_THEMES,
        starts_on=date(2026, 4, 1),
        ends_on=date(2026, 7, 1),
    )
    db_session.add(
        ProgramCoordinator(
            org_id=org.id, program_id=second.id, person_id=world.coordinator.id, added_by="t"
        )
    )
    for n, (role, level) in enumerate((("mentor", 2), ("mentor", 3), ("mentee", 9), ("mentee", 8))):
        person = make_person(org, given_name=f"Kandidat{n}", job_level=level, department=f"A{n}")
        enrollments.enroll(
            db_session,
            program=second,
            person=person,
            role=role,
            consent=True,
            topics_offered={"KI": 4} if role == "mentor" else None,
            topics_wanted={"KI": 4} if role == "mentee" else None,
            actor="t",
        )
    loner = make_person(org, given_name="Lea", job_level=9, languages=["fr"])
    enrollments.enroll(
        db_session,
        program=second,
        person=loner,
        role="mentee",
        consent=True,
        topics_wanted={"SOZIAL": 4},
        actor="t",
    )
    matching.run_matching(db_session, second, actor="t", objective="most_matched")
    for invited in (junior, make_person(org, given_name="Ida")):
        db_session.add(
            ProgramInvitation(
                org_id=org.id,
                program_id=second.id,
                person_id=invited.id,
                source="csv",
                invited_by="t",
            )
        )

    # Write-back messages of the running program.
    for key, status, extra in (
        ("1", OutboxStatus.DEAD, {"attempts": 8, "last_error": "ConnectorAuthError: 401"}),
        ("2", OutboxStatus.DELIVERED, {"attempts": 1, "delivered_at": T0 + timedelta(days=1)}),
        ("3", OutboxStatus.PENDING, {}),
    ):
        db_session.add(
            OutboxMessage(
                org_id=org.id,
                program_id=program.id,
                kind="completion",
                target="successfactors",
                idempotency_key=f"completion:p{program.id}:e{key}:successfactors",
                payload={"program": {"id": program.id}, "person": {"id": junior.id}},
                status=status,
                **extra,
            )
        )
    # A program still in preparation, and an LMS with a deployment waiting for approval.
    draft = make_program(org, name="Entwurf 2027", status=None, theme_plan=GERMAN_THEMES)
    db_session.add(
        ProgramCoordinator(
            org_id=org.id, program_id=draft.id, person_id=world.coordinator.id, added_by="t"
        )
    )
    reg = regs.add_platform(
        db_session,
        org_id=org.id,
        issuer="https://moodle.acme.example",
        client_id="tandem-client",
        auth_login_url="https://moodle.acme.example/mod/lti/auth.php",
        auth_token_url="https://moodle.acme.example/mod/lti/token.php",
        jwks_url="https://moodle.acme.example/mod/lti/certs.php",
        deployment_ids=["1"],
        actor="t",
    )
    db_session.add(
        LtiDeployment(
            org_id=org.id,
            registration_id=reg.id,
            deployment_id="7",
            status=LtiDeploymentStatus.PENDING,
            first_seen_at=T0,
        )
    )
    admin = make_person(org, given_name="Anna", family_name="Admin")
    db_session.commit()
    return Scene(
        world=world,
        junior=junior,
        pair=pair,
        second=second,
        held_id=held.id,
        planned_id=planned.id,
        admin=admin,
        waiting=[proposed, accepted],
        seeded=(
            # Connector error text of a seeded write-back message, shown verbatim.
            "ConnectorAuthError: 401",
            # The builders' department of juniors.
            "IT",
        ),
    )


def add_sync_runs(db: Session, scene: Scene) -> None:
    """A succeeded run that quarantined a record and a failed run of the connection."""
    conn = db.scalars(select(Connection).where(Connection.name == scene.connection)).one()
    now = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    ok = SyncRun(
        org_id=conn.org_id,
        connection_id=conn.id,
        full=True,
        status=SyncStatus.SUCCEEDED,
        started_at=now,
        finished_at=now + timedelta(minutes=2),
        seen=3,
        created=2,
        quarantined=1,
    )
    failed = SyncRun(
        org_id=conn.org_id,
        connection_id=conn.id,
        full=False,
        status=SyncStatus.FAILED,
        started_at=now + timedelta(days=1),
        finished_at=now + timedelta(days=1, minutes=1),
        seen=0,
        error="ConnectorUnavailable: 503",
    )
    db.add_all([ok, failed])
    db.flush()
    db.add(
        QuarantinedRecord(
            org_id=conn.org_id,
            sync_run_id=ok.id,
            entity="person",
            external_id="u4",
            reason="Nachname fehlt",
            payload={"userId": "u4"},
        )
    )
    db.commit()
    scene.runs = [ok.id, failed.id]


# --------------------------------------------------------------------------- crawling


@dataclass
class Crawl:
    """The pages visited and the English found on each."""

    visited: dict[str, int] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)

    def report(self) -> str:
        lines = [f"{len(self.problems)} page(s) with English text (locale {LOCALE}):"]
        for url, hits in sorted(self.problems.items()):
            lines.append(f"\n{url}")
            lines.extend(f"    {hit}" for hit in hits)
        return "\n".join(lines)


def _skipped(path: str) -> bool:
    return (
        path.endswith((".csv", ".json"))
        or path.startswith("/static/")
        or not path.startswith("/app/")
    )


def check_page(crawl: Crawl, label: str, html: str, seeded: tuple[str, ...]) -> list[str]:
    text, links = visible_text(html)
    hits = english_hits(text, seeded=seeded)
    if hits:
        crawl.problems[label] = hits
    return links


def crawl_from(client: Any, starts: list[str], seeded: tuple[str, ...]) -> Crawl:
    """Visit every same-origin page under ``/app/`` reachable from ``starts`` (GET only)."""
    crawl = Crawl()
    queue = list(starts)
    while queue and len(crawl.visited) < MAX_PAGES:
        url = queue.pop(0)
        if url in crawl.visited:
            continue
        res = client.get(url)
        crawl.visited[url] = res.status_code
        if res.mimetype != "text/html":
            continue
        for href in check_page(crawl, f"GET {url} ({res.status_code})", res.text, seeded):
            target = urldefrag(urljoin("http://localhost" + url, href))[0]
            parts = urlsplit(target)
            if parts.netloc != "localhost" or _skipped(parts.path):
                continue
            page = parts.path + (f"?{parts.query}" if parts.query else "")
            if page not in crawl.visited and page not in queue:
                queue.append(page)
    return crawl


def assert_german(crawl: Crawl, must_visit: list[str]) -> None:
    missing = [url for url in must_visit if url not in crawl.visited]
    assert not missing, f"not reached: {missing}"
    broken = {url: code for url, code in crawl.visited.items() if code >= 400}
    assert not broken, f"links that fail: {broken}"
    assert not crawl.problems, crawl.report()


def post_form(
    client: Any, crawl: Crawl, url: str, data: dict[str, Any], seeded: tuple[str, ...], **kw: Any
) -> str:
    res = client.post(url, data=data, **kw)
    assert res.status_code in (400, 409, 422), (url, res.status_code)
    assert 'class="field-error"' in res.text or 'role="alert"' in res.text, url
    check_page(crawl, f"POST {url} ({res.status_code})", res.text, seeded)
    return str(res.text)


def csrf_of(client: Any) -> str:
    cookie = client.get_cookie(web_session.COOKIE)
    assert cookie is not None
    headers = {"Cookie": f"{web_session.COOKIE}={cookie.value}"}
    with client.application.test_request_context(headers=headers):
        ws = web_session.current()
        assert ws is not None
        return ws.csrf


# --------------------------------------------------------------------------- the three people


def test_a_junior_with_a_tandem_sees_only_german(client: Any, login: Any, scene: Scene) -> None:
    login(scene.junior, "participant", locale=LOCALE)
    pid, tid = scene.world.program.id, scene.pair.tandem.id
    base = f"/app/programs/{pid}"
    details = [
        "/app/",
        f"{base}/me",
        f"{base}/tandems/{tid}",
        f"{base}/tandems/{tid}/goals",
        f"{base}/tandems/{tid}/sessions/new",
        f"{base}/sessions/{scene.held_id}",
        f"{base}/sessions/{scene.planned_id}",
        f"{base}/sessions",
        f"{base}/feedback",
        f"{base}/self-assessment",
        f"{base}/progress",
        f"{base}/enrolment",
        f"/app/programs/{scene.second.id}",
        f"/app/programs/{scene.second.id}/enrol",
    ]
    crawl = crawl_from(client, details, scene.seeded)

    token = csrf_of(client)
    post_form(
        client,
        crawl,
        f"/app/programs/{scene.second.id}/enrol",
        {"csrf_token": token, "consent_version": "1", "role": "mentor", "capacity": "1"},
        scene.seeded,
    )
    post_form(
        client, crawl, f"{base}/tandems/{tid}/sessions/log", {"csrf_token": token}, scene.seeded
    )
    post_form(
        client,
        crawl,
        f"{base}/tandems/{tid}/goals",
        {"csrf_token": token, "title": "Ziel " * 61},
        scene.seeded,
    )
    # A page that does not exist, in German too.
    missing = client.get(f"/app/programs/{pid}/tandems/999999")
    assert missing.status_code == 404
    check_page(crawl, "GET a missing tandem (404)", missing.text, scene.seeded)
    assert_german(crawl, details)


def test_juniors_asked_to_accept_or_to_start_their_tandem_see_only_german(
    client: Any, login: Any, scene: Scene
) -> None:
    pid = scene.world.program.id
    details = []
    crawl = Crawl()
    for pair in scene.waiting:
        login(pair.mentor, "participant", locale=LOCALE)
        start = [f"/app/programs/{pid}/me", f"/app/programs/{pid}/tandems/{pair.tandem.id}"]
        details += start
        more = crawl_from(client, start, scene.seeded)
        crawl.visited.update(more.visited)
        crawl.problems.update(
            {f"{pair.tandem.status.value}: {k}": v for k, v in more.problems.items()}
        )
    assert_german(crawl, details)


def test_a_coordinator_of_a_running_program_sees_only_german(
    client: Any, login: Any, scene: Scene
) -> None:
    login(scene.world.coordinator, "coordinator", locale=LOCALE)
    coord = "/app/coordinate/programs"
    details = [
        "/app/",
        "/app/coordinate/",
        f"/app/programs/{scene.world.program.id}/dashboard",
        f"{coord}/new",
    ]
    for program_id in (scene.world.program.id, scene.second.id):
        details += [
            f"{coord}/{program_id}",
            f"{coord}/{program_id}/edit",
            f"{coord}/{program_id}/enrollments",
            f"{coord}/{program_id}/enrollments/hris",
            f"{coord}/{program_id}/matching",
            f"{coord}/{program_id}/follow-up",
            f"{coord}/{program_id}/report",
            f"{coord}/{program_id}/writeback",
        ]
    crawl = crawl_from(client, details, scene.seeded)

    token = csrf_of(client)
    post_form(
        client,
        crawl,
        f"{coord}/new",
        {
            "csrf_token": token,
            "name": "Programm mit falschen Daten",
            "format": "one_to_one",
            "starts_on": "2027-07-01",
            "ends_on": "2027-01-01",
            "cadence_days": "30",
            "min_session_minutes": "45",
            "target_sessions": "6",
        },
        scene.seeded,
    )
    csv_rows = "email;employee_id\nniemand@example.com;\nkeine-adresse;\n;\n"
    post_form(
        client,
        crawl,
        f"{coord}/{scene.world.program.id}/enrollments/csv",
        {"csrf_token": token, "file": (io.BytesIO(csv_rows.encode()), "personen.csv")},
        (*scene.seeded, "niemand@example.com", "keine-adresse"),
        content_type="multipart/form-data",
    )
    assert_german(crawl, details)


def test_an_hr_admin_with_a_connection_and_sync_runs_sees_only_german(
    client: Any, login: Any, scene: Scene, db_session: Session
) -> None:
    login(scene.admin, "admin", locale=LOCALE)
    token = csrf_of(client)
    data = {
        "csrf_token": token,
        "name": scene.connection,
        "base_url": "https://api4.successfactors.com/",
        "company_id": "ACME",
        "client_id": "client-1",
        "user_id": "tandem_api",
        "password": "geheim-geheim",
    }
    res = client.post("/app/admin/connections/new", data=data)
    assert res.status_code == 303, res.text
    add_sync_runs(db_session, scene)
    conn = f"/app/admin/connections/{scene.connection}"
    started = client.post(f"{conn}/sync", data={"csrf_token": token})
    assert started.status_code == 303, started.text
    for thread in threading.enumerate():
        if thread.name.startswith(pages_admin.SYNC_THREAD_PREFIX):
            thread.join(timeout=30)
    details = [
        "/app/",
        "/app/admin/",
        "/app/admin/connections",
        "/app/admin/connections/new",
        "/app/admin/lti",
        "/app/admin/keys",
        conn,
        *(f"{conn}/runs/{run}" for run in scene.runs),
        urlsplit(started.headers["Location"]).path,  # the sync's progress, finished
    ]
    seeded = (*scene.seeded, scene.connection, "ConnectorUnavailable: 503")
    crawl = crawl_from(client, details, seeded)

    post_form(
        client,
        crawl,
        "/app/admin/connections/new",
        {**data, "name": "sf-zwei", "base_url": "ftp://api4.example.com"},
        seeded,
    )
    assert_german(crawl, details)
