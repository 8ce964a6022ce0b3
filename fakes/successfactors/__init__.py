"""A fake SAP SuccessFactors server (Flask) for tests, the demo and benchmarks.

It reproduces what a connector meets on a real tenant (``../shared/reference/successfactors.md``),
traps included, and never bends to a particular client.

Public API::

    from fakes.successfactors import FakeTenant, create_app, serve_in_thread

    tenant = FakeTenant(company_id="ACME", base_url="http://127.0.0.1:8301")  # None: request host
    tenant.register_client(client_id="tandem", certificate_pem=pem, user_id="sfadmin")  # SAML
    tenant.set_basic_password(user_id="sfadmin", password="…")
    tenant.basic_auth_enabled = False                     # basic auth -> 403 LGN0010
    tenant.register_learning_client(client_id="tandem", client_secret="…")
    tenant.generate_users(n=100_000, seed=7, inactive_share=0.03)   # one org tree
    tenant.generate_skills(seed=7)                        # default catalogue + ratings
    tenant.add_user({"userId": "u1", "firstName": "Ada", "manager": "u0", …})
    tenant.update_user("u1", status="f")                  # bumps lastModifiedDateTime
    tenant.touch_random(share=0.01, seed=1) -> list[str]  # for delta syncs
    tenant.add_skill("SK1", "Prompt engineering", name_de_DE="…")
    tenant.rate_skill("u1", "SK1", 3)                     # RatedSkillMapping (selfRatedLevel_*)
    tenant.learning_events                                # accepted ExternalLearningEvents
    tenant.rated_skill_mappings                           # {(userId, externalCode): row}
    tenant.faults.add(path_prefix="/odata/v2/User", status=503, times=1, retry_after=None)
    tenant.faults.add(path_prefix="/odata/v2/User", status=429, retry_after=2)
    tenant.faults.add(path_prefix="/odata/v2/User", malformed=True)    # truncated JSON page
    tenant.faults.add(path_prefix="/odata/v2/User", delay=1.5)
    tenant.faults.metadata_generating(); tenant.faults.maintenance()
    tenant.faults.upsert_row_error(user_id_or_key="u1", message="…", http_code=500, times=1)
    tenant.faults.learning_outage(times=2)
    tenant.duplicate_rows_across_pages = True             # pages repeat rows of the previous one
    tenant.expire_tokens()                                # next call: 401 "…token has expired."
    FakeTenant.load("people.json", company_id="ACME")     # or tenant.load(path)
    app = create_app(tenant, edmx=None)                   # edmx: path or XML to swap the EDMX
    server = serve_in_thread(app, host="127.0.0.1", port=0)  # .url, .port, .shutdown()

Command line: ``python -m fakes.successfactors --port 8301 --users 1000 --seed 7
--client-id tandem --company-id ACME --certificate cert.pem [--dataset file.json]``
(``--help`` for the rest). Admin endpoints for out-of-process control live under
``/_fake/`` (see :mod:`fakes.successfactors.admin`).

Behaviour, by area (decisions where the reference is silent or marks **[unverified]**):

* **Formats.** JSON when ``$format=json`` or ``Accept: application/json``, else Atom XML
  (SuccessFactors' default). Errors use the OData v2 envelope
  ``{"error": {"code", "message": {"lang": "en-US", "value"}}}`` (XML when JSON was not
  asked for). ``/Date(ms)/`` for ``Edm.DateTime``, ``/Date(ms+0000)/`` for
  ``Edm.DateTimeOffset``, ``Edm.Int64`` as a string, ``__count`` as a string.
* **User.** Only ``status in ('t','T')`` unless ``$filter`` mentions ``status``; an ``or``
  anywhere in ``$filter`` cancels that implicit filter (KBA 2166571/2736579). Key access
  (``User('x')``) returns inactive users too. Navigation ``manager`` (0..1) and
  ``directReports`` (n) are served; the other navigations are deferred links with no data.
  API users (``register_client(user_id=…)``, ``set_basic_password``) can log in but are not
  returned by ``User`` queries.
* **$filter** ``eq ne gt ge lt le in and or not``, parentheses, ``'…'``,
  ``datetimeoffset'…'``, ``datetime'…'``, ``startswith``/``endswith``/``substringof``/
  ``tolower``; paths through 1:1 navigations (``manager/userId``). Unknown property -> 400
  ``COE_PROPERTY_NOT_FOUND``. A property marked ``sap:filterable="false"`` (``email``,
  ``hireDate``, ``jobTitle`` … in the public EDMX) -> 400 ``COE_PROPERTY_NOT_FILTERABLE``:
  strict by default, ``tenant.enforce_filterable = False`` to accept (reference: [unverified]).
* **Paging.** ≤ 1000 rows per page (``customPageSize`` 1-1000, else 400); ``__next`` is
  absolute, repeats the request's query options and carries ``$skiptoken`` = base64
  ``{"startRow":…,"endRow":…}``. Cursor paging (default) re-evaluates the query per page,
  so rows modified meanwhile can shift (drop/duplicate, as on a real tenant);
  ``paging=snapshot`` freezes the result set at the first page (the token adds a
  ``snapshotId``) — for non-MDF entities only, MDF entities silently page by cursor.
  ``$top``/``$skip``/``$orderby``/``$inlinecount=allpages``/``/$count`` work.
  ``fromDate``/``toDate``/``asOfDate`` are accepted (``yyyy-MM-dd``), ``asOfDate`` with
  either of the others is a 400.
* **Auth.** Every OData call needs ``Authorization: Bearer`` (``/oauth/token``) or Basic
  ``userId@companyId:password``. Missing/invalid -> 401 ``"Authentication failed…"``;
  expired -> 401 ``"Authentication failed: The token has expired."``; basic auth off ->
  403 ``LGN0010``; wrong password -> 401 ``LGN0015``. ``/oauth/token`` checks the SAML
  bearer assertion as described in :mod:`fakes.successfactors.saml`.
* **Skills.** ``SkillEntity``, ``SkillProfile('userId')`` (every user has one; navs
  ``ratedSkills``, ``selfReportSkills``, ``externalCodeNav``), ``RatedSkillMapping`` (key
  ``SkillProfile_externalCode`` + ``externalCode``; ``skill`` references the SkillEntity;
  levels are strings in ``selfRatedLevel_*``/``managerRatedLevel_*``/``expectedLevel_*``),
  ``CompetencyRating`` (read-only: upserting it gives the row error "CompetencyRating source
  is not allowed to update").
* **Upsert** ``POST /odata/v2/upsert``: **200** with ``{"d": [{key, status, editStatus,
  message, index, httpCode, inlineResults}]}`` — ``OK``/``UPSERTED``/204 or ``ERROR`` with
  a message ending "with the index N". Row errors: unknown property (400), wrong JSON type
  (400), too long (``COE_PROPERTY_EXCEED_MAX_LENGTH``, 400), missing key or — for a new
  row — missing ``sap:required`` property such as ``status`` (400), unknown user or skill
  referenced (500, like SuccessFactors' business-rule errors), injected errors. Unknown
  entity or a body that is not JSON -> 400 envelope for the whole request. Read-only
  properties are ignored. A ``RatedSkillMapping`` without ``externalCode`` merges into the
  profile's row for the same ``skill`` or gets a generated code (MDF auto-number).
* **Learning** — see :mod:`fakes.successfactors.learning`.
* **Faults** — see :class:`fakes.successfactors.faults.Faults`; 503 answers carry the HTML
  maintenance page, 500 the ``COE_GENERAL_SERVER_FAILURE`` envelope.

Thread-safe (one lock per tenant around mutations and page building); quiet when served.
"""

from __future__ import annotations

from fakes.successfactors.app import ODataServer, create_app
from fakes.successfactors.faults import FaultRule, Faults, RowError
from fakes.successfactors.metadata import DEFAULT_EDMX, Metadata, load_metadata
from fakes.successfactors.server import FakeServer, serve_in_thread
from fakes.successfactors.tenant import DEFAULT_SKILLS, FakeTenant, Token

__all__ = [
    "DEFAULT_EDMX",
    "DEFAULT_SKILLS",
    "FakeServer",
    "FakeTenant",
    "FaultRule",
    "Faults",
    "Metadata",
    "ODataServer",
    "RowError",
    "Token",
    "create_app",
    "load_metadata",
    "serve_in_thread",
]
