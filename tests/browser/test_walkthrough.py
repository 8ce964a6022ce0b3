"""A whole reverse-mentoring program, walked through in a real browser (issue 7's judging test).

Everything the people of the story do, they do through Tandem's pages, launched from the
development LTI platform (``/dev/platform``) through the real LTI 1.3 flow and shown in
its iframe — each person in a browser of their own (their own cookies):

1. the coordinator creates a program, opens enrolment and invites a junior and a senior
   with a CSV file;
2. the junior and the senior open the program's course, enrol from their invitation
   (consent, role, topics, language) and fill in the pre-assessment;
3. the coordinator closes enrolment, runs matching, publishes the proposal and starts
   the program;
4. both accept the match and the confidentiality agreement; the junior records the
   kick-off, logs a session and keeps a private note; both give feedback;
5. both fill in the post-assessment: their progress pages show the completion, and the
   coordinator's write-back page shows its messages queued for the LMS and the journal;
6. the demo junior — a member of another tandem — opening this tandem's session, with its
   private notes, gets a 403;
7. the same pages render in German after ``de-DE`` launches (the story itself is in
   English: every page says ``lang="en"``).

Every page visited is checked with axe-core (WCAG 2.1 A/AA, no violation allowed: the
course page and Tandem's frame) and screenshotted into
``test-output/screenshots/test_a_whole_program_in_the_browser/``, numbered in the order of
the story. The program's dates let the story happen in one day: it started a week ago,
and the session is logged an hour back.
"""

from __future__ import annotations

import gettext
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from lti.db import get_session
from plugin.models import Enrollment, OutboxMessage, Person, ProgramCoordinator
from tests.browser.axe import assert_accessible

TIMEOUT = 20_000  # ms: a generous bound for a page to settle, not a timed assertion
FRAME = 'iframe[title="Tandem"]'
PROGRAM = "Reverse mentoring: AI at work"
NOTE = "Private: the board asked about our AI policy."
TRANSLATIONS = Path(__file__).resolve().parents[2] / "lti" / "translations"
GERMAN = gettext.translation("messages", localedir=TRANSLATIONS, languages=["de"])


def de(text: str) -> str:
    """The German catalogue's translation of one of the pages' English strings."""
    return GERMAN.gettext(text)


@dataclass(frozen=True)
class Someone:
    """A person of the seeded organization the story launches as."""

    id: int
    email: str
    name: str


def pick_pair(app: Flask) -> tuple[Someone, Someone]:
    """A junior and a senior of the demo organization who are free to meet.

    Both take part in nothing yet and manage nobody (so neither is in the other's
    management chain); the senior's grade is 2 to 12 above the junior's (the default
    seniority band of a new program). Choosing the cast is the test's part; everything
    they do happens in the browser.
    """
    with app.app_context():
        db = get_session()
        busy = {
            *db.scalars(select(Enrollment.person_id)),
            *db.scalars(select(ProgramCoordinator.person_id)),
            *db.scalars(select(Person.manager_id).where(Person.manager_id.is_not(None))),
        }
        free = [
            p
            for p in db.scalars(
                select(Person)
                .where(
                    Person.active.is_(True),
                    Person.email.is_not(None),
                    Person.job_level.is_not(None),
                )
                .order_by(Person.job_level, Person.id)
            )
            if p.id not in busy
        ]
        for junior in free:
            for senior in reversed(free):
                if 2 <= (senior.job_level or 0) - (junior.job_level or 0) <= 12:
                    return (
                        Someone(junior.id, str(junior.email), _name(junior)),
                        Someone(senior.id, str(senior.email), _name(senior)),
                    )
    raise AssertionError("the demo organization has no free junior and senior")


def _name(person: Person) -> str:
    return f"{person.given_name} {person.family_name}"


# --------------------------------------------------------------------------- the browser


def tandem_frame(page: Any) -> Any:
    """Tandem's iframe on the course page, as a Frame (its URL, navigation)."""
    return page.locator(FRAME).element_handle().content_frame()


def frame_url(page: Any) -> str:
    """The address of the page in Tandem's iframe, without its query."""
    return str(tandem_frame(page).url).split("?", 1)[0]


def open_in_frame(page: Any, url: str) -> int:
    """Load ``url`` in Tandem's iframe (as a bookmark inside it would); its HTTP status."""
    response = tandem_frame(page).goto(url)
    assert response is not None, url
    return int(response.status)


def labelled(scope: Any, label: str) -> Any:
    """The form control labelled ``label`` (a required one's label ends in " *")."""
    return scope.get_by_label(re.compile(f"^{re.escape(label)}( \\*)?$"))


def heading(frame: Any, text: str | re.Pattern[str]) -> None:
    """Wait for the page whose one h1 is ``text``."""
    expect(frame.get_by_role("heading", name=text, level=1)).to_be_visible(timeout=TIMEOUT)


def notice(frame: Any, text: str) -> None:
    """The notice a page shows after a form went through (role=status)."""
    expect(frame.get_by_role("status").filter(has_text=text).first).to_be_visible()


@dataclass
class Story:
    """The live site, a browser per person, and the numbering of the pages visited."""

    base: str
    browser: Any
    step: int = 0
    contexts: list[Any] = field(default_factory=list)

    def window(self, locale: str = "en-GB") -> Any:
        """A new browser (context) for one person: their own cookies, their language."""
        context = self.browser.new_context(viewport={"width": 1280, "height": 1400}, locale=locale)
        self.contexts.append(context)
        return context.new_page()

    def close(self) -> None:
        """Close every browser of the story."""
        for context in self.contexts:
            context.close()

    def check(self, page: Any, name: str, *, lang: str = "en") -> None:
        """Tandem's page speaks ``lang``; then axe-core and a screenshot of the whole page."""
        language = re.compile(f"^{lang}\\b")
        expect(page.frame_locator(FRAME).locator("html")).to_have_attribute("lang", language)
        self.step += 1
        assert_accessible(page, f"{self.step:02d}-{name}")

    def launch(
        self,
        page: Any,
        *,
        persona: str | None = None,
        email: str | None = None,
        program: int | None = None,
        locale: str = "en",
    ) -> Any:
        """Launch Tandem in the course's iframe as a persona, or as someone by email.

        The course is ``program``'s (else the demo program's); the launch passes Tandem's
        OIDC login, the platform's authorization and the id_token post, and has arrived
        when Tandem's own page (under ``/app/``) shows.
        """
        query = {"locale": locale, **({"program": str(program)} if program else {})}
        page.goto(f"{self.base}/dev/platform?{urlencode(query)}")
        expect(page.get_by_role("heading", name="Development LTI platform")).to_be_visible()
        if persona is not None:
            page.get_by_role("button", name=f"Launch as {persona}", exact=True).click()
        else:
            assert email is not None
            page.get_by_label("Email address").fill(email)
            page.get_by_label("Role in the course").select_option("learner")
            page.get_by_role("button", name="Launch as this person").click()
        tandem_frame(page).wait_for_url(re.compile(r"/app/"), timeout=TIMEOUT)
        frame = page.frame_locator(FRAME)
        expect(frame.get_by_role("heading", level=1)).to_have_count(1, timeout=TIMEOUT)
        return frame


# --------------------------------------------------------------------------- the story


def test_a_whole_program_in_the_browser(live_site: tuple[Flask, str], browser: Any) -> None:
    app, base = live_site
    junior, senior = pick_pair(app)
    story = Story(base, browser)
    try:
        coord, jun, sen = story.window(), story.window(), story.window()
        program_id = coordinator_creates_the_program(story, coord, junior, senior)
        participant_enrols(story, jun, junior, program_id, role="junior")
        participant_enrols(story, sen, senior, program_id, role="senior")
        tandem_id = coordinator_matches_and_starts(story, coord, junior, senior)
        session_url = tandem_starts_and_meets(story, jun, sen, program_id, tandem_id)
        both_complete(story, jun, sen)
        writeback_is_queued(story, coord, app, program_id, junior, senior)
        another_tandem_gets_403(story, session_url)
        in_german(story, program_id, tandem_id, session_url, junior, senior)
    finally:
        story.close()


def coordinator_creates_the_program(
    story: Story, page: Any, junior: Someone, senior: Someone
) -> int:
    frame = story.launch(page, persona="coordinator")
    story.check(page, "coordinator-launch")
    frame.get_by_role("link", name="Coordinate", exact=True).click()
    heading(frame, "Programs you coordinate")
    story.check(page, "coordinator-programs")
    frame.get_by_role("link", name="Create a program").click()
    heading(frame, "Create a program")
    story.check(page, "coordinator-new-program")

    today = datetime.now(UTC).date()
    labelled(frame, "Name").fill(PROGRAM)
    labelled(frame, "Description").fill("Juniors show seniors how they use AI tools at work.")
    labelled(frame, "Starts on").fill((today - timedelta(days=7)).isoformat())
    labelled(frame, "Ends on").fill((today + timedelta(days=180)).isoformat())
    labelled(frame, "Target number of sessions").fill("1")
    skills = frame.locator("#field-assessment_skills").get_by_role("checkbox")
    skills.nth(0).check()
    skills.nth(1).check()
    frame.get_by_role("button", name="Create the program").click()
    notice(frame, "The program was created in preparation. You coordinate it.")
    heading(frame, PROGRAM)
    found = re.search(r"/programs/(\d+)$", frame_url(page))
    assert found is not None
    story.check(page, "coordinator-program-created")
    change_status(frame, "Open enrolment")
    story.check(page, "coordinator-enrolment-open")

    program_nav(frame, "Enrolments")
    heading(frame, "Enrolments")
    story.check(page, "coordinator-enrolments")
    labelled(frame, "CSV file").set_input_files(
        {
            "name": "invite.csv",
            "mimeType": "text/csv",
            "buffer": f"email\n{junior.email}\n{senior.email}\n".encode(),
        }
    )
    frame.get_by_role("button", name="Upload and invite").click()
    notice(frame, "2 people invited.")
    expect(frame.get_by_test_id("invited")).to_contain_text(junior.name)
    expect(frame.get_by_test_id("invited")).to_contain_text(senior.name)
    story.check(page, "coordinator-invited")
    return int(found[1])


def program_nav(frame: Any, link: str) -> None:
    """Follow a link of the coordinator's program navigation."""
    nav = frame.get_by_role("navigation", name="Program administration")
    nav.get_by_role("link", name=link, exact=True).click()


def change_status(frame: Any, button: str) -> None:
    frame.get_by_test_id("transitions").get_by_role("button", name=button).click()
    notice(frame, "The program's status was changed.")


def participant_enrols(
    story: Story, page: Any, who: Someone, program_id: int, *, role: str
) -> None:
    frame = story.launch(page, email=who.email, program=program_id)
    story.check(page, f"{role}-launch")
    frame.get_by_role("link", name="My programs").click()
    heading(frame, "My programs")
    story.check(page, f"{role}-invitation")
    invited = frame.get_by_role("region", name="Programs I am invited to")
    invited.get_by_role("link", name="Enrol").click()
    heading(frame, f"Enrol in {PROGRAM}")
    story.check(page, f"{role}-enrol-form")

    frame.get_by_label(re.compile("take part voluntarily")).check()
    frame.get_by_role("group", name="I take part as").get_by_label(
        re.compile(f"^{role.capitalize()} ")
    ).check()
    wanted = "Topics I can share" if role == "junior" else "Topics I want to learn"
    topics = frame.get_by_role("group", name=re.compile(wanted)).get_by_role("combobox")
    topics.nth(0).select_option(index=4)
    topics.nth(1).select_option(index=3)
    frame.get_by_role("group", name="Languages I can meet in").get_by_label("English").check()
    frame.get_by_role("button", name="Enrol", exact=True).click()
    notice(frame, "You are enrolled. Thank you for taking part!")
    story.check(page, f"{role}-enrolled")

    frame.get_by_role("link", name="Self-assessment", exact=True).click()
    heading(frame, "Self-assessment")
    story.check(page, f"{role}-self-assessment")
    frame.get_by_role("link", name="Fill it in now").first.click()
    heading(frame, "Self-assessment: Before the program (pre)")
    fill_assessment(frame, level=2 if role == "junior" else 1)
    story.check(page, f"{role}-pre-assessment-done")


def fill_assessment(frame: Any, *, level: int) -> None:
    """Rate every skill of the self-assessment form at ``level`` and submit it."""
    skills = frame.locator("#assessment-form").get_by_role("group")
    expect(skills.first).to_be_visible()
    for index in range(skills.count()):
        skills.nth(index).get_by_role("radio").nth(level - 1).check()
    frame.get_by_role("button", name="Submit my self-assessment").click()
    notice(frame, "Your self-assessment is submitted. Thank you!")


def coordinator_matches_and_starts(
    story: Story, page: Any, junior: Someone, senior: Someone
) -> int:
    frame = page.frame_locator(FRAME)
    program_nav(frame, "Enrolments")
    heading(frame, "Enrolments")
    expect(frame.get_by_test_id("enrolled")).to_contain_text(junior.name)
    expect(frame.get_by_test_id("enrolled")).to_contain_text(senior.name)
    story.check(page, "coordinator-both-enrolled")
    program_nav(frame, "Overview")
    heading(frame, PROGRAM)
    change_status(frame, "Close enrolment and start matching")

    program_nav(frame, "Matching")
    heading(frame, "Matching")
    story.check(page, "coordinator-matching")
    frame.get_by_role("button", name="Run matching").click()
    notice(frame, "Matching finished. Review the proposals below, then publish them.")
    proposal = frame.get_by_test_id("proposal")
    expect(proposal).to_have_count(1)
    expect(proposal).to_contain_text(junior.name)
    expect(proposal).to_contain_text(senior.name)
    expect(proposal.get_by_role("listitem").first).to_be_visible()  # why they were matched
    found = re.search(r"Tandem (\d+)", proposal.get_by_role("heading").inner_text())
    assert found is not None
    story.check(page, "coordinator-proposal")
    frame.get_by_role("button", name="Publish the proposals").click()
    notice(frame, "The proposals were published.")
    story.check(page, "coordinator-published")

    program_nav(frame, "Overview")
    heading(frame, PROGRAM)
    change_status(frame, "Start the program")
    story.check(page, "coordinator-program-running")
    return int(found[1])


def tandem_starts_and_meets(
    story: Story, jun: Any, sen: Any, program_id: int, tandem_id: int
) -> str:
    both = ((jun, "junior"), (sen, "senior"))
    for page, role in both:
        frame = page.frame_locator(FRAME)
        frame.get_by_role("link", name="My tandem", exact=True).click()
        heading(frame, "My tandem")
        story.check(page, f"{role}-my-tandem-proposed")
        frame.get_by_role("link", name="Take the next steps").click()
        expect(frame.get_by_test_id("respond")).to_be_visible(timeout=TIMEOUT)
        assert frame_url(page).endswith(f"/programs/{program_id}/tandems/{tandem_id}")
        story.check(page, f"{role}-tandem-proposed")
        frame.get_by_label("Yes, I accept the match").check()
        frame.get_by_role("button", name="Send my answer").click()
        notice(frame, "You accepted the match.")
        story.check(page, f"{role}-match-accepted")
    for page, role in both:
        frame = page.frame_locator(FRAME)
        assert open_in_frame(page, frame_url(page)) == 200  # the partner answered meanwhile
        frame.get_by_label(re.compile("^I accept the confidentiality agreement")).check()
        frame.get_by_role("button", name="Accept the agreement").click()
        notice(frame, "You accepted the confidentiality agreement.")
        story.check(page, f"{role}-agreement-accepted")

    frame = jun.frame_locator(FRAME)
    labelled(frame, "What we expect of our tandem").fill(
        "We try one AI assistant a month on real work and talk about what changed."
    )
    frame.get_by_role("group", name="How we meet").get_by_role("radio").first.check()
    labelled(frame, "First goals").fill("A prompt library for the board's weekly notes")
    frame.get_by_role("button", name="Record the kick-off").click()
    notice(frame, "Your kick-off is recorded.")
    story.check(jun, "junior-kickoff")

    frame.get_by_role("link", name="Plan or log a session").click()
    heading(frame, "Plan or log a session")
    story.check(jun, "junior-new-session")
    log = frame.locator("#log-form")
    latest = labelled(log, "When it took place").get_attribute("max")  # now, their time zone
    held = datetime.fromisoformat(latest) - timedelta(hours=1)
    labelled(log, "When it took place").fill(held.strftime("%Y-%m-%dT%H:%M"))
    labelled(log, "Length in minutes").fill("60")
    labelled(log, "Topic").fill("Prompting for meeting notes")
    frame.get_by_role("button", name="Log the session").click()
    notice(frame, "The session is recorded as held.")
    session_url = frame_url(jun)
    labelled(frame, "Notes").fill(NOTE)
    frame.get_by_role("button", name="Save notes").click()
    notice(frame, "Your notes are saved.")
    story.check(jun, "junior-session-logged")
    give_feedback(frame, rating=5)
    story.check(jun, "junior-feedback-given")

    frame = sen.frame_locator(FRAME)
    frame.get_by_role("link", name="Sessions", exact=True).click()
    heading(frame, "Session log")
    story.check(sen, "senior-session-log")
    frame.get_by_role("table").get_by_role("row").nth(1).get_by_role("link").first.click()
    expect(frame.get_by_test_id("feedback")).to_be_visible(timeout=TIMEOUT)
    assert frame_url(sen) == session_url
    expect(labelled(frame, "Notes")).to_have_value(NOTE)  # the tandem's members share them
    give_feedback(frame, rating=4)
    story.check(sen, "senior-feedback-given")
    return session_url


def give_feedback(frame: Any, *, rating: int) -> None:
    helpful = frame.get_by_role("group", name="How helpful was the session?")
    helpful.get_by_role("radio").nth(rating - 1).check()
    labelled(frame, "Comment").fill("Practical, and fun.")
    frame.get_by_role("button", name="Send feedback").click()
    notice(frame, "Thank you for your feedback.")


def both_complete(story: Story, jun: Any, sen: Any) -> None:
    for page, role in ((jun, "junior"), (sen, "senior")):
        frame = page.frame_locator(FRAME)
        frame.get_by_role("link", name="Self-assessment", exact=True).click()
        heading(frame, "Self-assessment")
        frame.get_by_role("link", name="Fill it in now").first.click()
        heading(frame, "Self-assessment: After the program (post)")
        story.check(page, f"{role}-post-assessment")
        fill_assessment(frame, level=4)
        story.check(page, f"{role}-post-assessment-done")
        frame.get_by_role("link", name="My tandem", exact=True).click()
        heading(frame, "My tandem")
        frame.get_by_role("link", name="See my progress").first.click()
        heading(frame, "My progress")
        expect(frame.get_by_test_id("progress")).to_contain_text("Completed")
        expect(frame.get_by_test_id("progress")).to_contain_text("You completed the program on")
        story.check(page, f"{role}-progress-completed")


def writeback_is_queued(
    story: Story, page: Any, app: Flask, program_id: int, junior: Someone, senior: Someone
) -> None:
    frame = page.frame_locator(FRAME)
    program_nav(frame, "Write-back")
    heading(frame, "Write-back")
    messages = frame.get_by_test_id("writeback-messages")
    for who in (junior, senior):
        completion = messages.get_by_role("row").filter(has_text=who.name)
        expect(completion.filter(has_text="Completion").first).to_contain_text("Pending")
    story.check(page, "coordinator-writeback-pending")
    with app.app_context():
        queued = get_session().scalars(
            select(OutboxMessage.payload).where(OutboxMessage.kind == "completion")
        )
        people = {p["person"]["id"] for p in queued if p["program"]["id"] == program_id}
    assert people == {junior.id, senior.id}


def another_tandem_gets_403(story: Story, session_url: str) -> None:
    """The demo junior, in a tandem of the demo program, opens our tandem's session."""
    page = story.window()
    frame = story.launch(page, persona="junior")
    assert open_in_frame(page, session_url) == 403
    heading(frame, "Access denied")
    expect(frame.locator("main")).not_to_contain_text(NOTE)
    story.check(page, "other-tandem-member-403")


def in_german(
    story: Story,
    program_id: int,
    tandem_id: int,
    session_url: str,
    junior: Someone,
    senior: Someone,
) -> None:
    """The junior's and the coordinator's pages of the story again, after ``de-DE`` launches.

    The story itself ran in English (every page checked for ``lang="en"``); here the same
    pages say ``lang="de-DE"`` and show the German catalogue's headings.
    """
    root = session_url.split("/app/")[0]
    p = f"/app/programs/{program_id}"
    c = f"/app/coordinate/programs/{program_id}"
    session_on = re.compile("^" + re.escape(de("Session on %(date)s") % {"date": ""}))
    participant: list[tuple[str, str | re.Pattern[str]]] = [
        (f"{p}/me", de("My tandem")),
        (f"{p}/tandems/{tandem_id}", de("Tandem with %(names)s") % {"names": senior.name}),
        (session_url.removeprefix(root), session_on),
        (f"{p}/self-assessment", de("Self-assessment")),
        (f"{p}/progress", de("My progress")),
    ]
    coordinator: list[tuple[str, str | re.Pattern[str]]] = [
        ("/app/coordinate/", de("Programs you coordinate")),
        (f"{c}/matching", de("Matching")),
        (f"{c}/report", de("Outcome report")),
        (f"{c}/writeback", de("Write-back")),
    ]
    page = story.window(locale="de-DE")
    for who, pages in (("junior", participant), ("coordinator", coordinator)):
        if who == "junior":
            frame = story.launch(page, email=junior.email, program=program_id, locale="de-DE")
        else:
            frame = story.launch(page, persona="coordinator", locale="de-DE")
        expect(frame.locator("html")).to_have_attribute("lang", "de-DE")
        for path, title in pages:
            assert open_in_frame(page, root + path) == 200, path
            heading(frame, title)
            slug = re.sub(r"[^a-z]+", "-", path.split(f"/{program_id}/")[-1]).strip("-")
            story.check(page, f"{who}-de-{slug or 'programs'}", lang="de")


# --------------------------------------------------------------------------- the platform


def test_an_hr_admin_launch_reaches_the_administration(
    live_site: tuple[Flask, str], browser: Any
) -> None:
    _app, base = live_site
    story = Story(base, browser)
    try:
        page = story.window()
        frame = story.launch(page, persona="admin")
        expect(frame.get_by_role("link", name="Coordinate")).to_be_visible()
        frame.get_by_role("link", name="Administration").click()
        heading(frame, "Administration")
        story.check(page, "hr-admin-administration")
    finally:
        story.close()


def test_the_platform_refuses_unknown_people_roles_and_programs(
    live_site: tuple[Flask, str],
) -> None:
    app, _base = live_site
    web = app.test_client()
    for query, message in (
        ("persona=person&role=learner&email=nobody%40example.com", "Nobody active"),
        ("persona=person&role=learner", "Nobody active"),
        ("persona=person&role=owner&email=x%40example.com", "role must be"),
        ("persona=junior&program=999999&activity=my_tandem", "has no program"),
        ("persona=junior&program=abc&activity=my_tandem", "has no program"),
    ):
        response = web.get(f"/dev/platform/launch?{query}")
        assert response.status_code == 400, query
        assert message in response.get_data(as_text=True), query
    assert web.get("/dev/platform?program=999999").status_code == 400
