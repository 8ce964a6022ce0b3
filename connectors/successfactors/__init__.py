"""SAP SuccessFactors: people, org chart and skills in; completions, hours and skill gains out.

* :class:`~connectors.successfactors.connector.SuccessFactorsConnector` — the
  :class:`~plugin.ports.PeopleSource` and :class:`~plugin.ports.SkillSource` of one
  connection (HXM OData v2 ``User``, ``SkillEntity``, ``RatedSkillMapping``).
* :class:`~connectors.successfactors.sink.SuccessFactorsSink` — the write-back
  :class:`~plugin.ports.BatchSink` (Learning external events, ``RatedSkillMapping`` upserts).
* :mod:`~connectors.successfactors.auth` — the locally signed SAML bearer assertion, OAuth
  and Learning tokens, basic auth; :mod:`~connectors.successfactors.client` — the OData and
  Learning clients; :mod:`~connectors.successfactors.schemas` — payloads → records;
  :mod:`~connectors.successfactors.settings` — the connection's settings.

Facts: ``shared/reference/successfactors.md``.
"""

from __future__ import annotations

from connectors.successfactors.connector import SuccessFactorsConnector
from connectors.successfactors.sink import SuccessFactorsSink

__all__ = ["SuccessFactorsConnector", "SuccessFactorsSink"]
