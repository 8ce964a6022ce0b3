"""The LTI AGS client and sink against the in-memory platform (connectors.lti_ags)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
import requests
import responses
from sqlalchemy.orm import Session

from connectors.lti_ags import AgsSink
from connectors.lti_ags.client import (
    AgsClient,
    TokenCache,
    ToolCredentials,
    clear_token_cache,
    redact_url,
    with_path_suffix,
    with_query,
)
from connectors.lti_ags.fake import FakeAgsPlatform
from lti import create_app
from lti.sinks import get_sink_services, get_sinks
from plugin.crypto import SecretBox
from plugin.errors import ConnectorAuthError, ConnectorDataError, ConnectorUnavailable
from plugin.models import LtiLink, LtiRegistration, Organization, Person, Program, ToolKey
from plugin.ports import OutboundMessage, Sink, SinkConfigError, SinkServices, TargetConfig
from plugin.services import lti_registrations as regs
from tests.ags_support import (
    ALL_SCOPES,
    BOX,
    SCORE,
    SYNC_ONLY,
    USER,
    WHEN,
    Recorder,
    completion_payload,
    joined_services,
    launched,
    link,
    message,
    progress_payload,
    register,
)

SCORE_ONLY = [SCORE]


@dataclass
class Ags:
    org: Organization
    reg: LtiRegistration
    program: Program
    person: Person
    key: ToolKey
    platform: FakeAgsPlatform
    services: SinkServices
    waits: Recorder

    def sink(self, **kw: Any) -> AgsSink:
        kw.setdefault("sleep", self.waits)
        config = TargetConfig(
            org_id=self.org.id,
            name=f"lms-{self.reg.id}",
            sink="lti_ags",
            settings={"registration_id": self.reg.id},
            services=self.services,
        )
        return AgsSink(config, **kw)

    def completion(self, *, attempt: int = 1) -> OutboundMessage:
        return message(self.org.id, completion_payload(self.program, self.person), attempt=attempt)

    def progress(self, *, held: int = 3, attempt: int = 1) -> OutboundMessage:
        payload = progress_payload(self.program, self.person, held=held)
        return message(self.org.id, payload, kind="progress", attempt=attempt)


def _pem(ags: Ags) -> str:
    with ags.services.session_factory() as session:
        return regs.current_private_key_pem(session, BOX)


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Iterator[None]:
    clear_token_cache()
    yield
    clear_token_cache()


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as m:
        yield m


@pytest.fixture
def ags(
    db_session: Session,
    org: Organization,
    make_program: Any,
    make_person: Any,
    mock: responses.RequestsMock,
) -> Ags:
    key = regs.ensure_tool_key(db_session, BOX)
    platform = FakeAgsPlatform(tool_jwks=regs.published_jwks(db_session))
    platform.register(mock)
    reg = register(db_session, org_id=org.id, base_url=platform.base_url)
    program = make_program(org)
    person = make_person(org)
    launched(db_session, person, reg)
    return Ags(
        org,
        reg,
        program,
        person,
        key,
        platform,
        joined_services(db_session.connection()),
        Recorder([]),
    )


def my_tandem(db_session: Session, ags: Ags, **kw: Any) -> LtiLink:
    """The program's "My tandem" link with its own line item."""
    item = ags.platform.add_lineitem(label="My tandem")
    kw.setdefault("lineitems_url", ags.platform.lineitems_url)
    return link(db_session, ags.reg, ags.program, lineitem_url=item["id"], **kw)


# --------------------------------------------------------------------------- posting


def test_an_ags_sink_is_a_sink(db_session: Session, ags: Ags) -> None:
    assert isinstance(ags.sink(), Sink)


def test_completion_is_posted_with_a_signed_token_request(db_session: Session, ags: Ags) -> None:
    my_tandem(db_session, ags)
    ags.sink().deliver(ags.completion())

    (posted,) = ags.platform.scores
    assert posted.lineitem_id == 1
    assert posted.body == {
        "userId": USER,
        "scoreGiven": 100,
        "scoreMaximum": 100,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": WHEN.isoformat(),
    }
    # The platform verified the assertion's RS256 signature against the tool's JWKS.
    (claims,) = ags.platform.assertions
    assert claims["iss"] == claims["sub"] == ags.platform.client_id
    assert claims["aud"] == ags.platform.token_url
    assert claims["exp"] - claims["iat"] == 300
    assert len(claims["jti"]) >= 16
    (granted,) = ags.platform.tokens.values()
    assert granted == frozenset(ALL_SCOPES)
    assert ags.platform.calls == ["token", "scores"]


def test_progress_is_posted_in_progress_and_pending(db_session: Session, ags: Ags) -> None:
    my_tandem(db_session, ags)
    ags.sink().deliver(ags.progress(held=2))
    (posted,) = ags.platform.scores
    assert (
        posted.body["scoreGiven"],
        posted.body["activityProgress"],
        posted.body["gradingProgress"],
    ) == (33, "InProgress", "Pending")


def test_the_token_is_reused_across_messages(db_session: Session, ags: Ags) -> None:
    my_tandem(db_session, ags)
    sink = ags.sink()
    sink.deliver(ags.progress(held=1))
    sink.deliver(_later(ags.progress(held=2)))
    done = completion_payload(ags.program, ags.person, WHEN.replace(hour=11))
    ags.sink().deliver(message(ags.org.id, done))
    assert ags.platform.calls.count("token") == 1
    assert [s.body["activityProgress"] for s in ags.platform.scores] == [
        "InProgress",
        "InProgress",
        "Completed",
    ]


def test_an_older_score_than_the_platforms_is_not_posted(db_session: Session, ags: Ags) -> None:
    my_tandem(db_session, ags)
    ags.sink().deliver(_later(ags.progress(held=2)))  # 10:30
    ags.sink().deliver(ags.progress(held=1))  # 09:30, delivered late: the platform keeps 10:30
    assert [s.body["scoreGiven"] for s in ags.platform.scores] == [33]


def _later(msg: OutboundMessage) -> OutboundMessage:
    payload = dict(msg.payload)
    payload["at"] = WHEN.replace(hour=10).isoformat()
    return OutboundMessage(
        msg.id + 1, msg.org_id, msg.kind, msg.target, msg.idempotency_key + "x", payload, 1
    )


def test_an_audience_other_than_the_token_url_is_used(
    db_session: Session, ags: Ags, make_person: Any
) -> None:
    ags.reg.auth_audience = "https://lms.example.com/oauth2/token"
    ags.platform.audience = "https://lms.example.com/oauth2/token"
    db_session.flush()
    my_tandem(db_session, ags)
    ags.sink().deliver(ags.completion())
    assert ags.platform.assertions[0]["aud"] == "https://lms.example.com/oauth2/token"


def test_a_key_the_platform_does_not_know_is_an_auth_error(db_session: Session, ags: Ags) -> None:
    my_tandem(db_session, ags)
    other = FakeAgsPlatform(tool_jwks={"keys": []})
    ags.platform.tool_jwks = other.tool_jwks
    with pytest.raises(
        ConnectorAuthError, match=r"refused Tandem's token request \(invalid_client\)"
    ):
        ags.sink().deliver(ags.completion())
    assert ags.platform.scores == []


# --------------------------------------------------------------------------- line items


def test_the_line_item_is_found_in_the_container_and_recorded(
    db_session: Session, ags: Ags
) -> None:
    for i in range(3):
        ags.platform.add_lineitem(label=f"Quiz {i}", resource_id=f"quiz-{i}")
    ags.platform.add_lineitem(label="Tandem", resource_id=f"tandem-program-{ags.program.id}")
    row = link(db_session, ags.reg, ags.program, lineitems_url=ags.platform.lineitems_url)
    ags.platform.page_size = 1

    ags.sink().deliver(ags.completion())
    assert [s.lineitem_id for s in ags.platform.scores] == [4]
    assert ags.platform.calls.count("lineitem_post") == 0
    db_session.refresh(row)
    assert row.lineitem_url == ags.platform.lineitem_url(4)

    ags.sink().deliver(_later(ags.progress()))  # straight to the recorded line item
    assert ags.platform.calls.count("lineitems") == 1


def test_paging_follows_next_links_exactly_as_sent(db_session: Session, ags: Ags) -> None:
    for i in range(5):
        ags.platform.add_lineitem(label=f"Quiz {i}", resource_id=f"quiz-{i}")
    client = AgsClient(
        credentials=_credentials(ags), scopes=ALL_SCOPES, sleep=ags.waits, cache=TokenCache()
    )
    items = list(client.iter_lineitems(ags.platform.lineitems_url))
    assert [i["label"] for i in items] == [f"Quiz {i}" for i in range(5)]
    assert ags.platform.calls.count("lineitems") == 3  # pages of 2 (mixed-case page tokens)
    found = client.find_lineitem(ags.platform.lineitems_url, resource_id="quiz-3")
    assert found is not None
    assert found["label"] == "Quiz 3"
    assert client.find_lineitem(ags.platform.lineitems_url, resource_id="missing") is None


def test_paging_that_loops_is_a_data_error(db_session: Session, ags: Ags) -> None:
    url = "https://loop.example.com/lineitems"
    with responses.RequestsMock() as loop:
        loop.add(responses.GET, url, json=[], headers={"Link": f'<{url}>; rel="next"'})
        client = AgsClient(credentials=_credentials(ags), scopes=ALL_SCOPES, cache=_warm_cache(ags))
        with pytest.raises(ConnectorDataError, match="paging loops"):
            list(client.iter_lineitems(url))


def test_a_missing_line_item_is_created_with_the_lineitem_scope(
    db_session: Session, ags: Ags
) -> None:
    row = link(db_session, ags.reg, ags.program, lineitems_url=ags.platform.lineitems_url)
    ags.sink().deliver(ags.completion())
    (item,) = ags.platform.lineitems.values()
    assert item["resourceId"] == f"tandem-program-{ags.program.id}"
    assert item["label"] == "Tandem: Reverse Mentoring 2026"
    assert item["scoreMaximum"] == 100
    db_session.refresh(row)
    assert row.lineitem_url == item["id"]
    assert [s.lineitem_id for s in ags.platform.scores] == [1]


def test_grade_sync_only_without_a_column_is_a_config_error(db_session: Session, ags: Ags) -> None:
    link(
        db_session,
        ags.reg,
        ags.program,
        lineitems_url=ags.platform.lineitems_url,
        scopes=SYNC_ONLY,
    )
    with pytest.raises(SinkConfigError, match="grade sync only"):
        ags.sink().deliver(ags.completion())
    assert ags.platform.lineitems == {}


def test_a_line_item_on_another_host_is_refused(db_session: Session, ags: Ags) -> None:
    link(db_session, ags.reg, ags.program, lineitems_url=ags.platform.lineitems_url)
    ags.platform.add_lineitem(label="T", resource_id=f"tandem-program-{ags.program.id}")
    ags.platform.lineitems[1]["id"] = "https://evil.example.com/lineitems/1/lineitem?x=1"
    with pytest.raises(ConnectorDataError, match="outside its own host") as caught:
        ags.sink().deliver(ags.completion())
    assert "x=1" not in str(caught.value)
    assert ags.platform.scores == []


# --------------------------------------------------------------------------- failures


def test_an_outage_is_unavailable_with_the_platforms_retry_after(
    db_session: Session, ags: Ags
) -> None:
    my_tandem(db_session, ags)
    ags.platform.fail_next(10, status=503, retry_after=120, endpoint="scores")
    with pytest.raises(ConnectorUnavailable) as caught:
        ags.sink().deliver(ags.completion())
    assert caught.value.retry_after == 120
    assert caught.value.status == 503
    assert ags.waits.waits == []  # too long to wait in the call: the outbox waits
    assert ags.platform.scores == []
    assert "type_id" not in str(caught.value)


def test_short_outages_are_retried_in_the_call(db_session: Session, ags: Ags) -> None:
    my_tandem(db_session, ags)
    ags.platform.fail_next(1, status=503, retry_after=1, endpoint="token")
    ags.platform.fail_next(1, status=429, endpoint="scores")
    ags.sink().deliver(ags.completion())
    assert ags.waits.waits == [1.0, 0.5]
    assert len(ags.platform.scores) == 1


def test_retries_are_bounded(db_session: Session, ags: Ags) -> None:
    my_tandem(db_session, ags)
    ags.platform.fail_next(3, status=502, endpoint="scores")
    with pytest.raises(ConnectorUnavailable, match="score POST: HTTP 502"):
        ags.sink().deliver(ags.completion())
    assert ags.waits.waits == [0.5, 1.0]
    assert ags.platform.calls.count("scores") == 3


def test_a_connection_error_is_unavailable(db_session: Session, ags: Ags, mock: Any) -> None:
    my_tandem(db_session, ags)
    sink = ags.sink(max_retries=0)
    mock.reset()  # nothing answers any more
    with pytest.raises(ConnectorUnavailable, match="ConnectionError calling"):
        sink.deliver(ags.completion())


def test_a_401_gets_one_fresh_token(db_session: Session, ags: Ags) -> None:
    my_tandem(db_session, ags)
    sink = ags.sink()
    sink.deliver(ags.progress(held=1))
    ags.platform.revoke_tokens()
    sink.deliver(_later(ags.progress(held=2)))
    assert ags.platform.calls == ["token", "scores", "scores", "token", "scores"]
    assert len(ags.platform.scores) == 2


def test_a_persistent_401_is_an_auth_error(db_session: Session, ags: Ags) -> None:
    my_tandem(db_session, ags)
    ags.platform.fail_next(2, status=401, endpoint="scores")
    with pytest.raises(ConnectorAuthError, match="HTTP 401") as caught:
        ags.sink().deliver(ags.completion())
    assert ags.platform.calls == ["token", "scores", "token", "scores"]
    assert "Bearer" not in str(caught.value)


def test_a_403_is_an_auth_error(db_session: Session, ags: Ags) -> None:
    my_tandem(db_session, ags)
    ags.platform.fail_next(1, status=403, endpoint="scores")
    with pytest.raises(ConnectorAuthError, match="HTTP 403"):
        ags.sink().deliver(ags.completion())


def test_refused_scopes_are_an_auth_error(db_session: Session, ags: Ags) -> None:
    my_tandem(db_session, ags)
    ags.platform.scopes = frozenset({"https://purl.imsglobal.org/spec/lti-nrps/scope/x"})
    with pytest.raises(ConnectorAuthError, match="invalid_scope"):
        ags.sink().deliver(ags.completion())


@pytest.mark.parametrize("status", [400, 404, 422])
def test_a_refused_score_is_a_data_error_without_personal_data(
    db_session: Session, ags: Ags, status: int
) -> None:
    my_tandem(db_session, ags)
    ags.platform.fail_next(1, status=status, endpoint="scores")
    with pytest.raises(ConnectorDataError, match=f"score POST: HTTP {status} from") as caught:
        ags.sink().deliver(ags.completion())
    text = str(caught.value)
    assert "type_id" not in text
    assert USER not in text
    assert ags.person.email not in text
    assert text.startswith("score POST: HTTP")
    assert "https://lms.example.com/mod/lti/services.php/2/lineitems/1/lineitem/scores" in text


def test_a_user_the_platform_cannot_grade_is_a_data_error(db_session: Session, ags: Ags) -> None:
    my_tandem(db_session, ags)
    ags.platform.members = {"someone-else"}
    with pytest.raises(ConnectorDataError, match="HTTP 400"):
        ags.sink().deliver(ags.completion())


# --------------------------------------------------------------------------- exactly once


def test_a_redelivery_reads_the_result_and_posts_nothing(db_session: Session, ags: Ags) -> None:
    my_tandem(db_session, ags)
    ags.sink().deliver(ags.completion())
    # The worker died before recording the outcome: attempt 2 of the same message.
    ags.sink().deliver(ags.completion(attempt=2))
    assert len(ags.platform.scores) == 1
    assert ags.platform.calls == ["token", "scores", "results"]


def test_a_redelivery_of_progress_is_recognised_by_its_timestamp(
    db_session: Session, ags: Ags
) -> None:
    my_tandem(db_session, ags)
    ags.sink().deliver(ags.progress())
    ags.sink().deliver(ags.progress(attempt=3))
    assert len(ags.platform.scores) == 1


def test_without_result_access_the_platform_refuses_the_repeat(
    db_session: Session, ags: Ags, caplog: pytest.LogCaptureFixture
) -> None:
    my_tandem(db_session, ags, scopes=SCORE_ONLY)
    ags.sink().deliver(ags.completion())
    with caplog.at_level(logging.INFO, logger="connectors.lti_ags"):
        ags.sink().deliver(ags.completion(attempt=2))  # 409: at least as new already
    assert len(ags.platform.scores) == 1
    assert "results" not in ags.platform.calls
    assert "not posted again" in caplog.text


def test_a_first_attempt_never_reads_results(db_session: Session, ags: Ags) -> None:
    my_tandem(db_session, ags)
    ags.sink().deliver(ags.completion())
    assert "results" not in ags.platform.calls


def test_an_outage_then_recovery_posts_once(db_session: Session, ags: Ags) -> None:
    my_tandem(db_session, ags)
    ags.platform.fail_next(3, status=503, endpoint="scores")
    with pytest.raises(ConnectorUnavailable):
        ags.sink().deliver(ags.completion())
    ags.sink().deliver(ags.completion(attempt=2))
    ags.sink().deliver(ags.completion(attempt=3))
    assert len(ags.platform.scores) == 1


# --------------------------------------------------------------------------- skips, config


def test_a_person_who_never_launched_is_skipped_without_calls(
    db_session: Session, ags: Ags, make_person: Any, caplog: pytest.LogCaptureFixture
) -> None:
    my_tandem(db_session, ags)
    stranger = make_person(ags.org, email="stranger@example.com")
    msg = message(ags.org.id, completion_payload(ags.program, stranger))
    with caplog.at_level(logging.INFO, logger="connectors.lti_ags"):
        ags.sink().deliver(msg)
    assert ags.platform.calls == []
    assert "person never launched from this platform" in caplog.text
    assert "stranger@example.com" not in caplog.text


def test_an_unlinked_program_is_skipped(db_session: Session, ags: Ags) -> None:
    ags.sink().deliver(ags.completion())
    assert ags.platform.calls == []


def test_a_message_of_another_organization_is_refused(db_session: Session, ags: Ags) -> None:
    msg = message(ags.org.id + 1, completion_payload(ags.program, ags.person))
    with pytest.raises(ConnectorDataError, match="belongs to organization"):
        ags.sink().deliver(msg)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({}, "needs the setting registration_id"),
        ({"registration_id": 1, "path": "x"}, "unknown setting"),
    ],
)
def test_bad_settings_are_refused_when_built(settings: dict[str, Any], match: str) -> None:
    services = SinkServices(session_factory=Session, secret_box=BOX)
    with pytest.raises(SinkConfigError, match=match):
        AgsSink(TargetConfig(1, "lms-1", "lti_ags", settings, services=services))


def test_without_database_access_the_sink_cannot_be_built() -> None:
    with pytest.raises(SinkConfigError, match="needs database access"):
        AgsSink(TargetConfig(1, "lms-1", "lti_ags", {"registration_id": 1}))


def test_the_app_registers_the_sink_and_lends_it_the_database(tmp_path: Any) -> None:
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path}/none.db", "TESTING": True, "SECRET_KEY": "k"}
    )
    registry = get_sinks(app)
    assert "lti_ags" in registry
    sink = registry["lti_ags"](TargetConfig(1, "lms-1", "lti_ags", {"registration_id": 1}))
    assert isinstance(sink, AgsSink)
    assert sink.services is get_sink_services(app)
    assert isinstance(sink.services.secret_box, SecretBox)
    assert not (tmp_path / "none.db").exists()  # building did no I/O
    with sink.services.session_factory() as session:
        assert session.bind is not None


# --------------------------------------------------------------------------- client units


def test_urls_keep_their_query_strings_where_they_belong() -> None:
    item = "https://lms.example.com/mod/lti/services.php/2/lineitems/3/lineitem?type_id=1"
    assert with_path_suffix(item, "/scores") == (
        "https://lms.example.com/mod/lti/services.php/2/lineitems/3/lineitem/scores?type_id=1"
    )
    assert with_path_suffix("https://h/items/3/", "/results") == "https://h/items/3/results"
    assert with_query(item, user_id="7") == f"{item}&user_id=7"
    assert with_query(f"{item}&user_id=9", user_id="7") == f"{item}&user_id=7"
    assert redact_url("https://u:p@lms.example.com:8443/a/b?user_id=7#x") == (
        "https://lms.example.com:8443/a/b"
    )


def test_tokens_are_cached_per_platform_client_and_scopes(db_session: Session, ags: Ags) -> None:
    cache = TokenCache()
    first = AgsClient(credentials=_credentials(ags), scopes=SCORE_ONLY, cache=cache)
    token = first.access_token()
    assert (
        AgsClient(credentials=_credentials(ags), scopes=SCORE_ONLY, cache=cache).access_token()
        == token
    )
    other = AgsClient(credentials=_credentials(ags), scopes=ALL_SCOPES, cache=cache)
    assert other.access_token() != token
    assert ags.platform.calls.count("token") == 2


def test_the_token_cache_forgets_expired_and_refused_tokens() -> None:
    cache = TokenCache()
    key = ("https://lms/token", "client", ("s",))
    cache.put(key, "t1", expires_at=100.0)
    assert cache.get(key, 99.0) == "t1"
    assert cache.get(key, 100.0) is None
    cache.put(key, "t2", expires_at=200.0)
    cache.drop(key, "t1")  # an older token refused: keeps the newer one
    assert cache.get(key, 0.0) == "t2"
    cache.drop(key, "t2")
    assert cache.get(key, 0.0) is None


def test_a_short_lived_token_is_renewed_early(ags: Ags) -> None:
    now = [0.0]
    cache = TokenCache()
    with responses.RequestsMock() as other:
        other.add(
            responses.POST,
            ags.platform.token_url,
            json={"access_token": "a", "expires_in": 40},
        )
        other.add(responses.POST, ags.platform.token_url, json={"access_token": "b"})
        client = AgsClient(
            credentials=_credentials(ags), scopes=SCORE_ONLY, cache=cache, clock=lambda: now[0]
        )
        assert client.access_token() == "a"
        now[0] = 19.0
        assert client.access_token() == "a"
        now[0] = 20.0  # half its life: renewed
        assert client.access_token() == "b"
        now[0] = 3000.0  # no expires_in: an hour, less the margin
        assert client.access_token() == "b"


def test_the_assertion_is_signed_with_the_tool_key_and_kid(db_session: Session, ags: Ags) -> None:
    client = AgsClient(credentials=_credentials(ags), scopes=SCORE_ONLY, clock=lambda: 1_000.0)
    assertion = client.client_assertion()
    assert jwt.get_unverified_header(assertion)["kid"] == ags.key.kid
    public = jwt.PyJWK.from_dict(dict(ags.key.public_jwk))
    claims = jwt.decode(
        assertion,
        key=public,
        algorithms=["RS256"],
        audience=ags.platform.token_url,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert (claims["iat"], claims["exp"]) == (1_000, 1_300)
    assert client.client_assertion() != assertion  # a fresh jti each time


def test_a_token_answer_without_a_token_is_a_data_error(ags: Ags) -> None:
    with responses.RequestsMock() as other:
        other.add(responses.POST, ags.platform.token_url, json={"token_type": "Bearer"})
        client = AgsClient(credentials=_credentials(ags), scopes=SCORE_ONLY, cache=TokenCache())
        with pytest.raises(ConnectorDataError, match="no access_token"):
            client.access_token()


def test_a_retry_after_date_is_honoured(ags: Ags) -> None:
    with responses.RequestsMock() as other:
        other.add(
            responses.POST,
            ags.platform.token_url,
            status=503,
            headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
        )
        client = AgsClient(
            credentials=_credentials(ags),
            scopes=SCORE_ONLY,
            cache=TokenCache(),
            clock=lambda: 1445412480.0 - 600,  # ten minutes before that date
        )
        with pytest.raises(ConnectorUnavailable) as caught:
            client.access_token()
        assert caught.value.retry_after == 600


def test_a_non_json_answer_is_a_data_error(ags: Ags) -> None:
    url = "https://lms.example.com/other/lineitems"
    with responses.RequestsMock() as other:
        other.add(responses.GET, url, body="<html>", status=200)
        client = AgsClient(credentials=_credentials(ags), scopes=ALL_SCOPES, cache=_warm_cache(ags))
        with pytest.raises(ConnectorDataError, match="did not answer JSON"):
            list(client.iter_lineitems(url))


def test_every_call_has_a_timeout(ags: Ags) -> None:
    seen: list[Any] = []

    class Spy(requests.Session):
        def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            seen.append(kwargs.get("timeout"))
            return super().request(method, url, *args, **kwargs)

    client = AgsClient(credentials=_credentials(ags), scopes=SCORE_ONLY, session=Spy())
    client.access_token()
    item = ags.platform.add_lineitem()
    client.post_score(
        item["id"],
        {
            "userId": USER,
            "activityProgress": "Completed",
            "gradingProgress": "FullyGraded",
            "timestamp": WHEN.isoformat(),
        },
    )
    assert len(seen) == 2
    assert all(t == (3.05, 10.0) for t in seen)


def _credentials(ags: Ags) -> ToolCredentials:
    return ToolCredentials(
        token_url=ags.platform.token_url,
        client_id=ags.platform.client_id,
        private_key_pem=_pem(ags),
        kid=ags.key.kid,
    )


def _warm_cache(ags: Ags) -> TokenCache:
    cache = TokenCache()
    cache.put(
        (ags.platform.token_url, ags.platform.client_id, tuple(sorted(ALL_SCOPES))), "t", 1e12
    )
    return cache
