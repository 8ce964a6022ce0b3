"""pylti1p3's tool configuration read from the database (registrations, deployments, keys).

Modelled on pylti1p3's ``DjangoDbToolConf`` with its gaps closed (lti.md §1.1, §1.2):

* every issuer may have many client ids — ``check_iss_has_many_clients()`` is always true
  and the class-level ``issuers_relation_types`` dict is never touched;
* the registration carries the tool's private **and** public key, so pylti1p3 derives the
  ``kid`` of what it signs (deep-linking responses, service tokens) from the current key;
* only approved deployments are found: a pending or revoked one returns None (the launch
  is refused; the launch view explains it is waiting for approval);
* :meth:`get_jwks` returns every published key (current and previous), wrapped once.

Build one per request: ``SqlAlchemyToolConf(get_session(), get_secret_box())``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pylti1p3.actions import Action
from pylti1p3.deployment import Deployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config.abstract import ToolConfAbstract
from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session

from plugin.crypto import SecretBox
from plugin.models import LtiDeployment, LtiDeploymentStatus, LtiRegistration, Organization
from plugin.services import lti_registrations as regs

__all__ = ["SqlAlchemyToolConf"]


# Built once (every launch runs it): the registration, its organization and the status of
# the launch's deployment (NULL when unknown).
_PREFETCH = (
    select(
        LtiRegistration,
        Organization,
        select(LtiDeployment.status)
        .where(
            LtiDeployment.registration_id == LtiRegistration.id,
            LtiDeployment.deployment_id == bindparam("deployment_id"),
        )
        .correlate(LtiRegistration)
        .scalar_subquery(),
    )
    .join(Organization, Organization.id == LtiRegistration.org_id)
    .where(
        LtiRegistration.issuer == bindparam("issuer"),
        LtiRegistration.client_id == bindparam("client_id"),
        LtiRegistration.active.is_(True),
    )
)


class _LazyKeyRegistration(Registration):
    """A registration whose tool keys are read (and decrypted) only when something signs.

    A launch never signs, so it never pays for the key lookup and the decryption; a
    deep-linking response or a service token reads them on first use.
    """

    def __init__(self, conf: SqlAlchemyToolConf) -> None:
        super().__init__()
        self._conf = conf
        self._keys_loaded = False

    def _load_keys(self) -> None:
        if not self._keys_loaded:
            self._keys_loaded = True
            key = regs.ensure_tool_key(self._conf.session, self._conf.box)
            self._tool_public_key = key.public_pem
            self._tool_private_key = regs.current_private_key_pem(
                self._conf.session, self._conf.box
            )

    def get_tool_private_key(self) -> str | None:
        """The current tool key's private PEM (decrypted on first use)."""
        self._load_keys()
        return super().get_tool_private_key()

    def get_tool_public_key(self) -> Any:
        """The current tool key's public PEM (read on first use)."""
        self._load_keys()
        return super().get_tool_public_key()


#: Registrations as an OIDC login needs them, per process, for a few seconds: a login only
#: redirects to the platform (it grants nothing — the launch looks the registration up
#: again, uncached), so a burst of logins costs no database round trip. Cleared whenever
#: this process writes a registration; another host's change is seen within the TTL.
LOGIN_MEMO_SECONDS = 10.0
_LOGIN_MEMO: dict[tuple[str, str | None], tuple[float, dict[str, Any]]] = {}
_LOGIN_MEMO_LOCK = threading.Lock()


def clear_login_memo() -> None:
    """Forget the registrations remembered for logins (after a registration changed)."""
    with _LOGIN_MEMO_LOCK:
        _LOGIN_MEMO.clear()


@event.listens_for(Session, "after_flush")
def _registration_flushed(session: Session, _context: Any) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, LtiRegistration):
            clear_login_memo()
            return


@event.listens_for(Session, "do_orm_execute")
def _registration_statement(state: Any) -> None:
    if (state.is_update or state.is_delete) and any(
        getattr(m, "class_", None) is LtiRegistration for m in state.all_mappers
    ):
        clear_login_memo()


class SqlAlchemyToolConf(ToolConfAbstract[Any]):
    """A pylti1p3 ``ToolConf`` over Tandem's tables, bound to one session."""

    def __init__(self, session: Session, box: SecretBox) -> None:
        """Bind to the request's session and the app's secret box."""
        super().__init__()
        self.session = session
        self.box = box
        self._rows: dict[tuple[str, str | None], LtiRegistration | None] = {}
        self._deployments: dict[tuple[int, str], LtiDeploymentStatus | None] = {}
        self.organization: Organization | None = None

    def prefetch(self, iss: str, client_id: str, deployment_id: str | None) -> None:
        """Read a launch's registration, organization and deployment status in one query.

        The launch knows all three keys once the id_token is decoded; one round trip
        then answers what :meth:`registration_row`, :meth:`find_deployment_by_params` and
        the organization lookup after validation would each ask (the organization lands
        in the session's identity map).
        """
        if not iss or not client_id or (iss, client_id) in self._rows:
            return
        found = self.session.execute(
            _PREFETCH,
            {
                "issuer": regs.normalise_issuer(iss),
                "client_id": client_id.strip(),
                "deployment_id": deployment_id or "",
            },
        ).first()
        if found is None:
            self._rows[(iss, client_id)] = None
            return
        row, org, status = found
        self._rows[(iss, client_id)] = row
        # Held here: the session's identity map keeps objects only while referenced.
        self.organization = org
        if deployment_id:
            self._deployments[(row.id, deployment_id)] = (
                LtiDeploymentStatus(status) if status is not None else None
            )

    # pylti1p3 1.x compatibility switches: a database config is always "many clients".
    def check_iss_has_one_client(self, iss: str) -> bool:
        """Never: any issuer may have several client ids."""
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        """Always: registrations are looked up by issuer and client id."""
        return True

    def registration_row(self, iss: str, client_id: str | None) -> LtiRegistration | None:
        """The active registration of ``iss`` + ``client_id`` (cached for this request).

        Without a client id (an OIDC login that omits it) the issuer's registration is used
        only if it is the only active one.
        """
        cache_key = (iss, client_id)
        if cache_key not in self._rows:
            if client_id:
                row = regs.find_registration(self.session, issuer=iss, client_id=client_id)
            else:
                rows = regs.find_registrations_by_issuer(self.session, iss)
                row = rows[0] if len(rows) == 1 else None
            self._rows[cache_key] = row
        return self._rows[cache_key]

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> None:
        """Not used: see :meth:`check_iss_has_one_client`."""

    def find_registration_by_params(
        self, iss: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Registration | None:
        """The pylti1p3 registration of ``iss`` + ``client_id``, or None if unknown/inactive.

        The tool keys are read when something signs with them (and the first one is
        created then if there is none yet, a write in the request's session).
        """
        if kwargs.get("action") == Action.OIDC_LOGIN:
            return self.find_registration_for_login(iss, client_id)
        row = self.registration_row(iss, client_id)
        if row is None:
            return None
        reg = _LazyKeyRegistration(self)
        # The issuer exactly as the platform sent it: deep-linking responses use it as `aud`.
        reg.set_issuer(iss)
        reg.set_client_id(row.client_id)
        reg.set_auth_login_url(row.auth_login_url)
        reg.set_auth_token_url(row.auth_token_url)
        reg.set_auth_audience(row.auth_audience)  # type: ignore[arg-type]
        reg.set_key_set_url(row.jwks_url)
        reg.set_key_set(None)
        return reg

    def find_registration_for_login(self, iss: str, client_id: str | None) -> Registration | None:
        """The registration an OIDC login redirects with, from the per-process memo if fresh."""
        key = (iss, client_id)
        now = time.monotonic()
        with _LOGIN_MEMO_LOCK:
            hit = _LOGIN_MEMO.get(key)
        if hit is not None and hit[0] > now:
            fields = hit[1]
        else:
            row = self.registration_row(iss, client_id)
            if row is None:
                return None
            fields = {
                "client_id": row.client_id,
                "auth_login_url": row.auth_login_url,
                "auth_token_url": row.auth_token_url,
                "auth_audience": row.auth_audience,
                "jwks_url": row.jwks_url,
            }
            with _LOGIN_MEMO_LOCK:
                if len(_LOGIN_MEMO) > 1024:
                    _LOGIN_MEMO.clear()
                _LOGIN_MEMO[key] = (now + LOGIN_MEMO_SECONDS, fields)
        reg = _LazyKeyRegistration(self)
        reg.set_issuer(iss)
        reg.set_client_id(fields["client_id"])
        reg.set_auth_login_url(fields["auth_login_url"])
        reg.set_auth_token_url(fields["auth_token_url"])
        reg.set_auth_audience(fields["auth_audience"])
        reg.set_key_set_url(fields["jwks_url"])
        reg.set_key_set(None)
        return reg

    def find_deployment(self, iss: str, deployment_id: str) -> None:
        """Not used: see :meth:`check_iss_has_one_client`."""

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Deployment | None:
        """The deployment if it is **approved**; None if unknown, pending or revoked."""
        row = self.registration_row(iss, client_id)
        if row is None or not deployment_id:
            return None
        if (row.id, deployment_id) in self._deployments:
            status = self._deployments[(row.id, deployment_id)]
        else:
            status = self.session.scalar(
                select(LtiDeployment.status).where(
                    LtiDeployment.registration_id == row.id,
                    LtiDeployment.deployment_id == deployment_id,
                )
            )
        if status is not LtiDeploymentStatus.APPROVED:
            return None
        return Deployment().set_deployment_id(deployment_id)

    def get_jwks(
        self, iss: str | None = None, client_id: str | None = None, **kwargs: Any
    ) -> dict[str, list[dict[str, Any]]]:
        """Every published tool key (current, previous) as ``{"keys": [...]}``.

        Tool keys are global, so ``iss`` and ``client_id`` do not narrow the set.
        """
        return regs.published_jwks(self.session)
