"""The LTI AGS sink: completion and progress scores in the platform's gradebook.

Each organization's platform registration has a target ``lms-<registration id>`` (sink
``lti_ags``, settings ``{"registration_id": <id>}``; made by
:func:`plugin.services.lti_grades.ensure_ags_target`). For each message the sink

1. works out what to post in a short database session of its own
   (:func:`plugin.services.lti_grades.resolve`): the platform, the tool key, the person's
   platform user id, the line item and the score — or that there is nothing to post
   (the person never launched from that platform, the program is not linked in one of
   its courses), which counts as delivered;
2. finds the program's line item in the course's container by ``resourceId`` when the
   link has none of its own, creates it if missing (``lineitem`` scope only), and records
   its URL on the link;
3. posts the score with the message's stable ``timestamp``.

**Nothing posted twice.** A re-delivery (``attempt > 1``: the previous attempt may have
reached the platform) first reads the user's result when the platform granted
``result.readonly``, and posts nothing if it already carries this score (or a newer one).
In any case the score has the event's time, never the delivery's: a platform keeps a score
only if it is newer than the last (Moodle answers 409 otherwise, which the client reports
and the sink takes as delivered).

Errors carry no personal data and no URL query strings; a skipped message is logged at
INFO with its reason only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

from connectors.lti_ags.client import (
    MAX_RETRIES,
    AgsClient,
    TokenCache,
    ToolCredentials,
    redact_url,
)
from plugin.errors import ConnectorDataError
from plugin.ports import OutboundMessage, SinkConfigError, SinkServices, TargetConfig
from plugin.services import lti_grades
from plugin.services.lti_grades import AgsDelivery, Score, Skip

__all__ = ["AgsSink"]

log = logging.getLogger(__name__)

_SETTINGS = frozenset({"registration_id"})
_TAG = "tandem"


class AgsSink:
    """Posts completion and progress scores through LTI AGS (see the module docstring)."""

    name: ClassVar[str] = "lti_ags"

    def __init__(
        self,
        config: TargetConfig,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = MAX_RETRIES,
        token_cache: TokenCache | None = None,
    ) -> None:
        """Build the sink of one target; validates settings, calls nothing.

        Args:
            config: The target; ``services`` (database access) is required and
                ``settings["registration_id"]`` names the platform registration.
            session: The HTTP session (a new one by default).
            sleep: Waits between a call's retries (injected by tests).
            max_retries: Retries of one call after a connection error, 429 or 5xx.
            token_cache: Where access tokens are kept; the process-wide cache by default.

        Raises:
            SinkConfigError: No database access, unknown settings or no registration id.
        """
        if config.services is None:
            raise SinkConfigError(
                "the lti_ags sink needs database access (the app's sink registry provides "
                "it); build it through the registry",
                field="services",
            )
        unknown = sorted(set(config.settings) - _SETTINGS)
        if unknown:
            raise SinkConfigError(
                f"unknown setting(s) {', '.join(unknown)} for the lti_ags sink; it takes: "
                "registration_id",
                field="settings",
            )
        self.registration_id = lti_grades.registration_id_of(config.settings)
        self.config = config
        self.services: SinkServices = config.services
        self._http = session if session is not None else requests.Session()
        self._sleep = sleep
        self._max_retries = max_retries
        self._token_cache = token_cache

    # ------------------------------------------------------------------ delivery

    def deliver(self, message: OutboundMessage) -> None:
        """Post the message's score once (see the module docstring).

        Raises:
            ConnectorUnavailable: The platform is unreachable or overloaded; retried.
            ConnectorAuthError: The platform refused the tool's credentials.
            ConnectorDataError: The platform refused the content, or the message is not
                the target's organization's or lacks what a score needs.
            SinkConfigError: The registration, tool key or granted scopes cannot work.
        """
        if message.org_id != self.config.org_id:
            raise ConnectorDataError(
                f"message {message.id} belongs to organization {message.org_id}, "
                f"not to the target's organization {self.config.org_id}",
                connector=self.name,
            )
        found = self._resolve(message)
        if isinstance(found, Skip):
            log.info(
                "outbox message %d (%s → %s): nothing to post: %s",
                message.id,
                message.kind,
                message.target,
                found.reason,
            )
            return
        client = self._client(found)
        lineitem = found.lineitem_url or self._lineitem(client, found)
        if message.attempt > 1 and found.can_read_results and self._has(client, lineitem, found):
            log.info(
                "outbox message %d (%s → %s): the platform already holds this score; "
                "not posted again",
                message.id,
                message.kind,
                message.target,
            )
            return
        if not client.post_score(lineitem, found.score.as_json()):
            log.info(
                "outbox message %d (%s → %s): the platform holds a score at least as new "
                "(HTTP 409); not posted again",
                message.id,
                message.kind,
                message.target,
            )

    # ------------------------------------------------------------------ steps

    def _resolve(self, message: OutboundMessage) -> AgsDelivery | Skip:
        # A short session of our own, read only: closed (rolled back) before any HTTP.
        with self.services.session_factory() as session:
            return lti_grades.resolve(
                session,
                self.services.secret_box,
                org_id=message.org_id,
                kind=message.kind,
                settings=self.config.settings,
                payload=message.payload,
            )

    def _client(self, found: AgsDelivery) -> AgsClient:
        return AgsClient(
            credentials=ToolCredentials(
                token_url=found.token_url,
                client_id=found.client_id,
                private_key_pem=found.private_key_pem,
                kid=found.kid,
                audience=found.auth_audience,
            ),
            scopes=found.token_scopes,
            session=self._http,
            sleep=self._sleep,
            max_retries=self._max_retries,
            cache=self._token_cache,
        )

    def _lineitem(self, client: AgsClient, found: AgsDelivery) -> str:
        """The program's line item in the link's container: found, else created."""
        container = found.lineitems_url
        if not container or not found.can_find:
            raise SinkConfigError(
                "the course offers no line item for this program and the platform did not "
                "grant Tandem the AGS line item scopes to find one; enable grade "
                "synchronisation with column management, launch again, then retry",
                field="ags_scopes",
            )
        item = client.find_lineitem(container, resource_id=found.resource_id)
        if item is None:
            if not found.can_create:
                raise SinkConfigError(
                    "the course has no grade column for this program and the platform "
                    "lets Tandem only post grades (AGS 'grade sync only'): add the 'My "
                    "tandem' activity with a grade through deep linking, or allow column "
                    "management, then retry",
                    field="ags_scopes",
                )
            item = client.create_lineitem(
                container,
                label=found.label,
                resource_id=found.resource_id,
                score_maximum=lti_grades.SCORE_MAXIMUM,
                tag=_TAG,
            )
        url = _same_origin(str(item["id"]), container)
        lti_grades.save_lineitem(self.services.session_factory, found.link_id, url)
        return url

    def _has(self, client: AgsClient, lineitem: str, found: AgsDelivery) -> bool:
        """Whether the user's result already carries this score (or a newer one)."""
        try:
            results = client.results(lineitem, user_id=found.score.user_id)
        except ConnectorDataError as exc:
            # A platform without a results service: the score's timestamp still protects.
            log.info("could not read results (%s); posting the score", exc.message)
            return False
        return any(_carries(result, found.score) for result in results)


def _same_origin(url: str, container: str) -> str:
    """The line item URL, if it is on the container's host (our token goes there)."""
    try:
        item, base = urlsplit(url), urlsplit(container)
        same = (
            item.scheme in ("https", "http")
            and bool(item.hostname)
            and (item.scheme, item.netloc.lower()) == (base.scheme, base.netloc.lower())
        )
    except ValueError:
        same = False
    if not same:
        raise ConnectorDataError(
            f"the platform named a line item outside its own host ({redact_url(url)})",
            connector=AgsSink.name,
        )
    return url


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _carries(result: Any, score: Score) -> bool:
    if not isinstance(result, dict) or str(result.get("userId")) != score.user_id:
        return False
    theirs, ours = _parse_time(result.get("timestamp")), _parse_time(score.timestamp)
    if theirs is not None and ours is not None and theirs >= ours:
        return True
    if score.grading_progress != lti_grades.GRADING_FULLY_GRADED:
        return False
    given, maximum = result.get("resultScore"), result.get("resultMaximum") or 1
    if not isinstance(given, int | float) or not isinstance(maximum, int | float) or not maximum:
        return False
    return abs(given / maximum - score.score_given / score.score_maximum) < 1e-6
