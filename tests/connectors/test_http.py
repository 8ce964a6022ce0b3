"""The shared HTTP helper (connectors._http): retries, waits, classification, redaction."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
import responses

from connectors._http import (
    HttpClient,
    RetryPolicy,
    backoff_delay,
    build_session,
    json_body,
    raise_for_status,
    redact_text,
    redact_url,
    retry_after_seconds,
)
from plugin.errors import ConnectorAuthError, ConnectorDataError, ConnectorUnavailable

URL = "https://api.example.test/odata/v2/User"
NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


class Waits:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as m:
        yield m


@pytest.fixture
def waits() -> Waits:
    return Waits()


def client(waits: Waits, **policy: float | int | None) -> HttpClient:
    return HttpClient(
        connector="test",
        session=build_session(),
        policy=RetryPolicy(**policy),  # type: ignore[arg-type]
        sleep=waits,
        clock=NOW.timestamp,
        rng=lambda: 0.5,
    )


# --------------------------------------------------------------------------- retries


def test_503_then_success_is_retried_with_jittered_backoff(
    mock: responses.RequestsMock, waits: Waits
) -> None:
    mock.get(URL, status=503)
    mock.get(URL, status=503)
    mock.get(URL, json={"ok": True})
    response = client(waits, backoff=1.0).request("GET", URL, what="User page 1")
    assert response.json() == {"ok": True}
    # Full jitter: rng 0.5 of the bound 1·2^(n-1).
    assert waits.waits == [0.5, 1.0]
    assert len(mock.calls) == 3


def test_429_retry_after_seconds_is_honoured(mock: responses.RequestsMock, waits: Waits) -> None:
    mock.get(URL, status=429, headers={"Retry-After": "7"})
    mock.get(URL, json={"ok": True})
    client(waits).request("GET", URL, what="User page 1")
    assert waits.waits == [7.0]


def test_429_retry_after_http_date_is_honoured(mock: responses.RequestsMock, waits: Waits) -> None:
    when = format_datetime(NOW + timedelta(seconds=12), usegmt=True)
    mock.get(URL, status=429, headers={"Retry-After": when})
    mock.get(URL, json={"ok": True})
    client(waits).request("GET", URL, what="User page 1")
    assert waits.waits == [12.0]


def test_retry_after_over_the_cap_raises_unavailable_with_retry_after(
    mock: responses.RequestsMock, waits: Waits
) -> None:
    mock.get(URL, status=429, headers={"Retry-After": "300"})
    with pytest.raises(ConnectorUnavailable) as info:
        client(waits, max_retry_wait=60.0).request("GET", URL, what="User page 1")
    assert info.value.retry_after == 300.0
    assert info.value.status == 429
    assert waits.waits == []


def test_default_429_wait_applies_when_no_retry_after(
    mock: responses.RequestsMock, waits: Waits
) -> None:
    mock.get(URL, status=429)
    with pytest.raises(ConnectorUnavailable) as info:
        client(waits, default_429_wait=300.0, max_retry_wait=60.0).request("GET", URL, what="x")
    assert info.value.retry_after == 300.0


def test_retries_run_out_as_unavailable(mock: responses.RequestsMock, waits: Waits) -> None:
    mock.get(URL, status=502)
    with pytest.raises(ConnectorUnavailable) as info:
        client(waits, max_attempts=3).request("GET", URL, what="User page 1")
    assert info.value.status == 502
    assert len(mock.calls) == 3
    assert len(waits.waits) == 2


def test_timeout_is_retried_then_unavailable(mock: responses.RequestsMock, waits: Waits) -> None:
    mock.get(URL, body=requests.ReadTimeout("read timed out"))
    mock.get(URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(ConnectorUnavailable, match="timeout"):
        client(waits, max_attempts=2).request("GET", URL, what="User page 1")
    assert len(mock.calls) == 2


def test_connection_error_then_success(mock: responses.RequestsMock, waits: Waits) -> None:
    mock.get(URL, body=requests.ConnectionError("refused"))
    mock.get(URL, json={"ok": True})
    assert client(waits).request("GET", URL, what="x").status_code == 200


def test_post_is_not_repeated_after_an_ambiguous_failure(
    mock: responses.RequestsMock, waits: Waits
) -> None:
    mock.post(URL, status=500)
    with pytest.raises(ConnectorUnavailable, match="may or may not have been processed"):
        client(waits).request("POST", URL, what="events POST", json={"a": 1})
    assert len(mock.calls) == 1
    mock.post(URL, body=requests.ReadTimeout("slow"))
    with pytest.raises(ConnectorUnavailable):
        client(waits).request("POST", URL, what="events POST", json={"a": 1})
    assert len(mock.calls) == 2
    assert waits.waits == []


def test_post_is_repeated_after_429_and_connect_timeout(
    mock: responses.RequestsMock, waits: Waits
) -> None:
    mock.post(URL, status=429, headers={"Retry-After": "1"})
    mock.post(URL, body=requests.ConnectTimeout("no connection"))
    mock.post(URL, json={"ok": True})
    response = client(waits).request("POST", URL, what="events POST", json={"a": 1})
    assert response.status_code == 200
    assert len(mock.calls) == 3


def test_idempotent_post_is_repeated_after_5xx(mock: responses.RequestsMock, waits: Waits) -> None:
    mock.post(URL, status=503)
    mock.post(URL, json={"ok": True})
    client(waits).request("POST", URL, what="upsert", json=[], idempotent=True)
    assert len(mock.calls) == 2


def test_fresh_form_for_each_try(mock: responses.RequestsMock, waits: Waits) -> None:
    mock.post(URL, status=503)
    mock.post(URL, json={"ok": True})
    made = iter(["first", "second"])
    client(waits).request(
        "POST", URL, what="token", data=lambda: {"assertion": next(made)}, idempotent=True
    )
    assert [c.request.body for c in mock.calls] == ["assertion=first", "assertion=second"]


def test_final_answers_come_back_unretried(mock: responses.RequestsMock, waits: Waits) -> None:
    mock.get(URL, status=500, json={"error": {"message": "No search results"}})
    response = client(waits).request(
        "GET", URL, what="history", final=lambda r: "No search results" in r.text
    )
    assert response.status_code == 500
    assert len(mock.calls) == 1


def test_4xx_comes_back_unretried(mock: responses.RequestsMock, waits: Waits) -> None:
    mock.get(URL, status=400, json={"error": {"code": "COE_BAD_REQUEST"}})
    response = client(waits).request("GET", URL, what="x")
    assert response.status_code == 400
    assert waits.waits == []


def test_redirects_are_not_followed(mock: responses.RequestsMock, waits: Waits) -> None:
    mock.get(URL, status=302, headers={"Location": "https://evil.test/steal"})
    response = client(waits).request("GET", URL, what="x")
    with pytest.raises(ConnectorDataError):
        raise_for_status(response, connector="test", what="x")


def test_every_call_has_a_timeout(mock: responses.RequestsMock, waits: Waits) -> None:
    seen: list[object] = []

    class Spy(requests.Session):
        def request(self, *args: object, **kw: object) -> requests.Response:  # type: ignore[override]
            seen.append(kw.get("timeout"))
            return super().request(*args, **kw)  # type: ignore[arg-type]

    mock.get(URL, json={})
    HttpClient(connector="t", session=Spy(), timeout=(2.0, 9.0), sleep=waits).request(
        "GET", URL, what="x"
    )
    assert seen == [(2.0, 9.0)]


# --------------------------------------------------------------------------- helpers


def test_backoff_delay_full_jitter_bounds() -> None:
    assert backoff_delay(1, base=0.5, cap=30, rng=lambda: 1.0) == 0.5
    assert backoff_delay(4, base=0.5, cap=30, rng=lambda: 1.0) == 4.0
    assert backoff_delay(20, base=0.5, cap=30, rng=lambda: 1.0) == 30.0
    assert backoff_delay(3, base=0.5, cap=30, rng=lambda: 0.0) == 0.0


def test_retry_after_parsing() -> None:
    def resp(value: str) -> requests.Response:
        r = requests.Response()
        r.headers["Retry-After"] = value
        return r

    assert retry_after_seconds(resp("5"), now=NOW.timestamp()) == 5.0
    assert retry_after_seconds(resp("soon"), now=NOW.timestamp()) is None
    past = format_datetime(NOW - timedelta(seconds=5), usegmt=True)
    assert retry_after_seconds(resp(past), now=NOW.timestamp()) == 0.0
    assert retry_after_seconds(requests.Response(), now=0) is None


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, ConnectorAuthError),
        (403, ConnectorAuthError),
        (404, ConnectorDataError),
        (429, ConnectorUnavailable),
        (503, ConnectorUnavailable),
    ],
)
def test_raise_for_status_classifies(status: int, error: type[Exception]) -> None:
    response = requests.Response()
    response.status_code = status
    response.url = "https://u:p@host.test/x?token=abc&$filter=userId eq 'cgrant'"
    with pytest.raises(error) as info:
        raise_for_status(response, connector="t", what="call")
    text = str(info.value)
    for leaked in ("abc", "cgrant", "u:p"):
        assert leaked not in text


def test_json_body_of_an_html_page_is_a_data_error() -> None:
    response = requests.Response()
    response.status_code = 200
    response._content = b"<html>maintenance</html>"
    response.headers["Content-Type"] = "text/html"
    with pytest.raises(ConnectorDataError, match="text/html"):
        json_body(response, connector="t", what="User page 2")


def test_redact_url_drops_userinfo_and_query_values() -> None:
    url = "https://user:pw@api.test:8443/odata/v2/User?$filter=userId eq 'x'&access_token=SECRET#f"
    assert redact_url(url) == "https://api.test:8443/odata/v2/User?$filter=…&access_token=…"
    assert redact_url("http://[::1") == "<malformed URL>"
    assert redact_url("https://h.test/odata/v2/User('o''neil')/manager?$select=userId") == (
        "https://h.test/odata/v2/User(…)/manager?$select=…"
    )
    assert redact_url("https://h.test/x/User(%27cgrant%27)") == "https://h.test/x/User(…)"


def test_redact_text_masks_secrets_and_credential_shapes() -> None:
    text = "Bearer abcdefghijkl failed; password=hunter22; assertion: PHNhbWw+; mine=s3cr3t-v"
    out = redact_text(text, ["s3cr3t-v"])
    for secret in ("abcdefghijkl", "hunter22", "PHNhbWw+", "s3cr3t-v"):
        assert secret not in out


def test_log_lines_carry_no_query_values_or_secrets(
    mock: responses.RequestsMock, waits: Waits, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = URL + "?$filter=userId%20eq%20%27cgrant%27&access_token=TOPSECRET"
    mock.get(URL, status=503)
    mock.get(URL, json={})
    client(waits).request("GET", url, what="User page 1", headers={"Authorization": "Bearer T0K3N"})
    text = caplog.text
    assert "retry 1" in text
    for leaked in ("cgrant", "TOPSECRET", "T0K3N"):
        assert leaked not in text
