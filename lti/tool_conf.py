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

from typing import Any

from pylti1p3.deployment import Deployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config.abstract import ToolConfAbstract
from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.crypto import SecretBox
from plugin.models import LtiDeployment, LtiDeploymentStatus, LtiRegistration
from plugin.services import lti_registrations as regs

__all__ = ["SqlAlchemyToolConf"]


class SqlAlchemyToolConf(ToolConfAbstract[Any]):
    """A pylti1p3 ``ToolConf`` over Tandem's tables, bound to one session."""

    def __init__(self, session: Session, box: SecretBox) -> None:
        """Bind to the request's session and the app's secret box."""
        super().__init__()
        self.session = session
        self.box = box
        self._rows: dict[tuple[str, str | None], LtiRegistration | None] = {}

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

        Creates the first tool key if there is none yet (a write in the request's session).
        """
        row = self.registration_row(iss, client_id)
        if row is None:
            return None
        key = regs.ensure_tool_key(self.session, self.box)
        reg = Registration()
        # The issuer exactly as the platform sent it: deep-linking responses use it as `aud`.
        reg.set_issuer(iss)
        reg.set_client_id(row.client_id)
        reg.set_auth_login_url(row.auth_login_url)
        reg.set_auth_token_url(row.auth_token_url)
        reg.set_auth_audience(row.auth_audience)  # type: ignore[arg-type]
        reg.set_key_set_url(row.jwks_url)
        reg.set_key_set(None)
        reg.set_tool_private_key(regs.current_private_key_pem(self.session, self.box))
        reg.set_tool_public_key(key.public_pem)
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
