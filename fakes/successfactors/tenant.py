"""The data behind the SuccessFactors fake.

One company (tenant) with its users, org chart, skills, OAuth clients, tokens, Learning
history and fault queue.

Values are stored the way the server needs them: SuccessFactors property names, dates as
epoch milliseconds UTC (``Edm.DateTime`` / ``Edm.DateTimeOffset``), the manager as a hidden
``_manager`` user id. Everything that mutates takes :attr:`FakeTenant.lock` and bumps
:attr:`FakeTenant.version` (the server's result caches key on it).
"""

from __future__ import annotations

import functools
import json
import random
import secrets
import threading
import unicodedata
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

from fakes.successfactors.faults import Faults
from fakes.successfactors.odata import to_ms

__all__ = ["ApiClient", "FakeTenant", "Token"]

#: Properties stored as epoch ms (``Edm.DateTime``/``Edm.DateTimeOffset`` in the EDMX).
DATE_FIELDS = frozenset(
    {
        "hireDate",
        "origHireDate",
        "serviceDate",
        "dateOfBirth",
        "dateOfCurrentPosition",
        "dateOfPosition",
        "lastModified",
        "lastModifiedDateTime",
        "lastModifiedWithTZ",
        "createdDateTime",
        "createdDate",
        "lastModifiedDate",
        "validFrom",
        "validTo",
        "effectiveStartDate",
        "effectiveEndDate",
    }
)
#: Statuses SuccessFactors treats as active (``t``) and active external (``T``, ``e``).
ACTIVE_STATUSES = frozenset({"t", "T"})
_LEVEL_LOCALES = ("defaultValue", "en_US", "localized")
_RATERS = {"self": "selfRatedLevel", "manager": "managerRatedLevel", "expected": "expectedLevel"}

T = TypeVar("T")
R = TypeVar("R")


class _hybridmethod(Generic[T, R]):
    """Callable on the class (builds an instance first) and on an instance."""

    def __init__(self, func: Callable[..., R]) -> None:
        self.func = func
        self.__doc__ = func.__doc__

    def __get__(self, obj: T | None, owner: type[T]) -> Callable[..., R]:
        func = self.func
        if obj is None:

            def on_class(path: str | Path, /, **kwargs: Any) -> R:
                return func(owner(**kwargs), path)

            return on_class

        def on_instance(path: str | Path, /) -> R:
            return func(obj, path)

        return on_instance


@dataclass(slots=True)
class ApiClient:
    """A registered OAuth2 client application (Admin Center > Manage OAuth2 Client Applications)."""

    client_id: str
    certificate_pem: str
    user_id: str | None = None
    bind_to_user: bool = False


@dataclass(slots=True)
class Token:
    """An issued access token (``platform``: ``/oauth/token``; ``learning``: Learning)."""

    value: str
    kind: str
    client_id: str
    user_id: str
    expires_at: datetime
    user_type: str = "admin"


# --------------------------------------------------------------------------- demo vocabulary

_DIVISIONS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "Technology",
        (
            "Platform Engineering",
            "Data & AI",
            "Cloud Operations",
            "IT Security",
            "Developer Experience",
        ),
        "Software Engineer",
    ),
    (
        "Sales",
        ("Enterprise Sales", "Mid-Market Sales", "Sales Operations", "Partner Sales"),
        "Account Executive",
    ),
    (
        "Marketing",
        ("Brand & Content", "Digital Marketing", "Product Marketing"),
        "Marketing Specialist",
    ),
    ("Finance", ("Accounting", "Controlling", "Treasury", "Procurement"), "Financial Analyst"),
    (
        "People",
        ("Talent Acquisition", "Learning & Development", "HR Business Partners", "Total Rewards"),
        "HR Specialist",
    ),
    ("Operations", ("Supply Chain", "Logistics", "Facilities", "Quality"), "Operations Specialist"),
    (
        "Customer Success",
        ("Support", "Customer Onboarding", "Professional Services"),
        "Customer Success Manager",
    ),
    ("Legal & Compliance", ("Legal", "Compliance", "Data Protection"), "Legal Counsel"),
)
# city, country, SF timeZone (MaxLength 16), defaultLocale, email-safe site code
_LOCATIONS: tuple[tuple[str, str, str, str], ...] = (
    ("Berlin", "Germany", "Europe/Berlin", "de_DE"),
    ("Munich", "Germany", "Europe/Berlin", "de_DE"),
    ("Walldorf", "Germany", "Europe/Berlin", "de_DE"),
    ("London", "United Kingdom", "Europe/London", "en_GB"),
    ("Paris", "France", "Europe/Paris", "fr_FR"),
    ("Madrid", "Spain", "Europe/Madrid", "es_ES"),
    ("Warsaw", "Poland", "Europe/Warsaw", "pl_PL"),
    ("New York", "United States", "US/Eastern", "en_US"),
    ("San Francisco", "United States", "US/Pacific", "en_US"),
    ("Toronto", "Canada", "America/Toronto", "en_US"),
    ("São Paulo", "Brazil", "Brazil/East", "pt_BR"),
    ("Bangalore", "India", "Asia/Kolkata", "en_US"),
    ("Singapore", "Singapore", "Asia/Singapore", "en_US"),
    ("Tokyo", "Japan", "Asia/Tokyo", "ja_JP"),
)
_FIRST = (
    "Anna",
    "Lukas",
    "Sofia",
    "Jonas",
    "Emma",
    "Noah",
    "Mia",
    "Leon",
    "Hannah",
    "Elias",
    "Olivia",
    "Liam",
    "Amelia",
    "Oliver",
    "Isla",
    "George",
    "Chloé",
    "Hugo",
    "Léa",
    "Louis",
    "Lucía",
    "Mateo",
    "Martina",
    "Pablo",
    "Zofia",
    "Jakub",
    "Julia",
    "Antoni",
    "Emily",
    "James",
    "Ava",
    "Ethan",
    "Maya",
    "Lucas",
    "Sophie",
    "William",
    "Ana",
    "João",
    "Beatriz",
    "Gabriel",
    "Aarav",
    "Priya",
    "Vihaan",
    "Ananya",
    "Rohan",
    "Diya",
    "Wei",
    "Mei",
    "Jun",
    "Hana",
    "Yuki",
    "Haruto",
    "Sakura",
    "Kenji",
    "Fatima",
    "Omar",
    "Amina",
    "Yusuf",
    "Zeynep",
    "Mehmet",
    "Ingrid",
    "Björn",
    "Siobhán",
    "Niamh",
    "Kwame",
    "Ama",
    "Chidi",
    "Ngozi",
)
_LAST = (
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "García",
    "Fernández",
    "López",
    "Martínez",
    "Nowak",
    "Kowalski",
    "Wiśniewski",
    "Johnson",
    "Miller",
    "Davis",
    "Rodriguez",
    "Nguyen",
    "Chen",
    "Tremblay",
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Sharma",
    "Patel",
    "Iyer",
    "Reddy",
    "Gupta",
    "Tan",
    "Lim",
    "Wong",
    "Sato",
    "Suzuki",
    "Takahashi",
    "Tanaka",
    "Yılmaz",
    "Kaya",
    "O'Brien",
    "Murphy",
    "Andersson",
    "Johansson",
    "Okafor",
    "Mensah",
    "Van der Berg",
    "De Vries",
)
_SENIORITY = (
    # (prefix, grade, weight, min years, max years)
    ("Junior ", 2, 0.22, 0, 3),
    ("", 4, 0.38, 1, 8),
    ("Senior ", 6, 0.27, 4, 15),
    ("Principal ", 8, 0.13, 8, 25),
)
#: Default skill catalogue for :meth:`FakeTenant.generate_skills`
#: (externalCode, name_en_US, name_de_DE, group_en_US).
DEFAULT_SKILLS: tuple[tuple[str, str, str, str], ...] = (
    ("SK-GENAI", "Generative AI basics", "Grundlagen generativer KI", "Technology"),
    ("SK-PROMPT", "Prompt engineering", "Prompt-Engineering", "Technology"),
    ("SK-DATA", "Data literacy", "Datenkompetenz", "Technology"),
    ("SK-CLOUD", "Cloud collaboration tools", "Cloud-Kollaborationstools", "Technology"),
    ("SK-SEC", "Cyber security awareness", "Bewusstsein für Cybersicherheit", "Technology"),
    ("SK-LOWCODE", "Low-code automation", "Low-Code-Automatisierung", "Technology"),
    ("SK-SOCIAL", "Social media", "Soziale Medien", "Technology"),
    ("SK-VIDEO", "Video storytelling", "Video-Storytelling", "Technology"),
    ("SK-AGILE", "Agile ways of working", "Agile Arbeitsweisen", "Ways of working"),
    ("SK-HYBRID", "Hybrid and remote work", "Hybrides und mobiles Arbeiten", "Ways of working"),
    ("SK-ASYNC", "Asynchronous communication", "Asynchrone Kommunikation", "Ways of working"),
    ("SK-FEEDBACK", "Feedback culture", "Feedbackkultur", "Culture & diversity"),
    ("SK-DEI", "Diversity and inclusion", "Vielfalt und Inklusion", "Culture & diversity"),
    ("SK-GENZ", "Gen-Z expectations", "Erwartungen der Generation Z", "Culture & diversity"),
)


@functools.lru_cache(maxsize=4096)
def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded if ch.isalnum())


class FakeTenant:
    """One SuccessFactors company: data, credentials, tokens, faults and switches.

    Args:
        company_id: the company id (``company_id`` of ``/oauth/token``, ``user@company`` of
            basic auth).
        base_url: absolute base used in ``__next`` and ``__metadata`` URIs; ``None`` derives
            it from each request's host.
        token_lifetime: seconds an ``/oauth/token`` token lives (``expires_in``).
        learning_token_lifetime: seconds a Learning token lives (SuccessFactors: 1800).
        clock: returns "now" (aware UTC); tests move it to expire tokens and assertions.

    Switches (plain attributes): ``basic_auth_enabled`` (``False`` -> ``LGN0010``),
    ``enforce_filterable`` (400 on ``sap:filterable="false"`` properties),
    ``duplicate_rows_across_pages`` and ``duplicate_rows`` (server paging repeats that many
    rows of the previous page), ``learning_rate_limit_per_minute`` (``None`` = off),
    ``learning_require_time_zone`` (KBA 2421887 marks the time zone required),
    ``empty_history_status`` (status of the "No search results" Learning answer),
    ``assertion_clock_skew`` (seconds of leeway on SAML ``NotBefore``/``NotOnOrAfter``).
    """

    def __init__(
        self,
        *,
        company_id: str = "ACME",
        base_url: str | None = None,
        token_lifetime: int = 3600,
        learning_token_lifetime: int = 1800,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.company_id = company_id
        self.base_url = base_url.rstrip("/") if base_url else None
        self.token_lifetime = token_lifetime
        self.learning_token_lifetime = learning_token_lifetime
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.faults = Faults()
        self.basic_auth_enabled = True
        self.enforce_filterable = True
        self.duplicate_rows_across_pages = False
        self.duplicate_rows = 3
        self.learning_rate_limit_per_minute: int | None = None
        self.learning_require_time_zone = True
        self.empty_history_status = 500
        self.assertion_clock_skew = 60
        #: Bumped by every mutation; result caches and indexes key on it.
        self.version = 0
        self._users: dict[str, dict[str, Any]] = {}
        self._skills: dict[str, dict[str, Any]] = {}
        self._rated: dict[tuple[str, str], dict[str, Any]] = {}
        self._self_reported: dict[tuple[str, str], dict[str, Any]] = {}
        self._competency_ratings: dict[int, dict[str, Any]] = {}
        self._clients: dict[str, ApiClient] = {}
        self._learning_clients: dict[str, str] = {}
        self._passwords: dict[str, str] = {}
        self._api_users: set[str] = set()
        self._tokens: dict[str, Token] = {}
        self._learning_events: list[dict[str, Any]] = []
        self._history: dict[str, list[dict[str, Any]]] = {}
        self._history_seq = 880000
        self._code_seq = 0
        self._index_version = -1
        self._children: dict[str, list[str]] = {}
        self._rated_by_profile: dict[str, list[dict[str, Any]]] = {}
        self._self_by_profile: dict[str, list[dict[str, Any]]] = {}
        self._by_username: dict[str, str] = {}
        self._by_email: dict[str, str] = {}
        self._request_counts: Counter[str] = Counter()
        self._recent: deque[dict[str, Any]] = deque(maxlen=1000)
        self._learning_calls: deque[float] = deque()

    # ------------------------------------------------------------------ time & bookkeeping

    def now(self) -> datetime:
        """The tenant's "now" (aware UTC)."""
        moment = self.clock()
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def now_ms(self) -> int:
        """The tenant's "now" in epoch milliseconds."""
        return int(self.now().timestamp() * 1000)

    def _touch(self) -> None:
        self.version += 1

    def record_request(self, method: str, path: str, query: str) -> None:
        """Count a request (``/_fake/stats``)."""
        with self.lock:
            self._request_counts[path] += 1
            self._recent.append({"method": method, "path": path, "query": query})

    def stats(self) -> dict[str, Any]:
        """Request counts by path, the last requests, and data sizes."""
        with self.lock:
            return {
                "requests": dict(self._request_counts),
                "total": sum(self._request_counts.values()),
                "recent": list(self._recent),
                "users": len(self._users),
                "skills": len(self._skills),
                "rated_skill_mappings": len(self._rated),
                "learning_events": len(self._learning_events),
                "tokens_issued": len(self._tokens),
                "version": self.version,
            }

    def reset_stats(self) -> None:
        """Forget the request counts."""
        with self.lock:
            self._request_counts.clear()
            self._recent.clear()

    # ------------------------------------------------------------------ credentials

    def register_client(
        self,
        *,
        client_id: str,
        certificate_pem: str | bytes,
        user_id: str | None = None,
        bind_to_user: bool = False,
    ) -> None:
        """Register an OAuth2 client (API key) with the certificate its assertions are signed with.

        ``user_id`` becomes a known API user; ``bind_to_user`` restricts the assertion's
        NameID to it ("Bind to Users").
        """
        pem = (
            certificate_pem.decode("ascii")
            if isinstance(certificate_pem, bytes)
            else certificate_pem
        )
        with self.lock:
            self._clients[client_id] = ApiClient(client_id, pem, user_id, bind_to_user)
            if user_id:
                self._api_users.add(user_id)

    def client(self, client_id: str) -> ApiClient | None:
        """The registered OAuth2 client, if any."""
        with self.lock:
            return self._clients.get(client_id)

    def set_basic_password(self, *, user_id: str, password: str) -> None:
        """Allow basic auth ``user_id@company_id:password`` (while ``basic_auth_enabled``)."""
        with self.lock:
            self._passwords[user_id] = password
            if user_id not in self._users:
                self._api_users.add(user_id)

    def check_password(self, user_id: str, password: str) -> bool:
        """Constant-time password check."""
        with self.lock:
            expected = self._passwords.get(user_id)
        return expected is not None and secrets.compare_digest(expected, password)

    def add_api_user(self, user_id: str) -> None:
        """A technical user that can authenticate but is not returned by ``User`` queries."""
        with self.lock:
            self._api_users.add(user_id)

    def register_learning_client(self, *, client_id: str, client_secret: str) -> None:
        """Register a client of the Learning token server (``…/oauth-api/rest/v1/token``)."""
        with self.lock:
            self._learning_clients[client_id] = client_secret

    def check_learning_client(self, client_id: str, client_secret: str) -> bool:
        """Constant-time check of a Learning client secret."""
        with self.lock:
            expected = self._learning_clients.get(client_id)
        return expected is not None and secrets.compare_digest(expected, client_secret)

    def is_known_login(self, user_id: str) -> bool:
        """Whether ``user_id`` may log in (an active user or an API user)."""
        with self.lock:
            if user_id in self._api_users:
                return True
            user = self._users.get(user_id)
            return user is not None and user.get("status") in ACTIVE_STATUSES

    def login_for(self, name: str, *, by: str = "userId") -> str | None:
        """Resolve a SAML NameID (userId, or username/email with ``use_username``/``use_email``)."""
        with self.lock:
            self._ensure_indexes()
            if by == "username":
                return self._by_username.get(name.lower())
            if by == "email":
                return self._by_email.get(name.lower())
            return name

    def issue_token(
        self, *, kind: str, client_id: str, user_id: str, user_type: str = "admin"
    ) -> Token:
        """Mint an access token (``kind``: ``platform`` or ``learning``)."""
        lifetime = self.token_lifetime if kind == "platform" else self.learning_token_lifetime
        token = Token(
            value=secrets.token_urlsafe(32),
            kind=kind,
            client_id=client_id,
            user_id=user_id,
            expires_at=self.now() + timedelta(seconds=lifetime),
            user_type=user_type,
        )
        with self.lock:
            self._tokens[token.value] = token
        return token

    def token(self, value: str) -> Token | None:
        """Look up an issued token (expired ones included)."""
        with self.lock:
            return self._tokens.get(value)

    def expire_tokens(self) -> int:
        """Expire every issued token now; returns how many."""
        with self.lock:
            past = self.now() - timedelta(seconds=1)
            for token in self._tokens.values():
                token.expires_at = past
            return len(self._tokens)

    # ------------------------------------------------------------------ users

    def _normalise(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in fields.items():
            if key in ("manager", "managerId", "managerUserId", "_manager"):
                if isinstance(value, Mapping):
                    value = value.get("userId")
                out["_manager"] = str(value) if value not in (None, "") else None
            elif key in DATE_FIELDS:
                out[key] = to_ms(value)
            elif key == "__metadata":
                continue
            else:
                out[key] = value
        return out

    def _stamp(self, user: dict[str, Any], ms: int | None = None) -> None:
        stamp = self.now_ms() if ms is None else ms
        user["lastModifiedDateTime"] = stamp
        user["lastModified"] = stamp
        user["lastModifiedWithTZ"] = stamp

    def add_user(self, fields: Mapping[str, Any], /) -> str:
        """Add one user from a SuccessFactors field dict; returns its userId.

        ``manager`` may be a userId, ``{"userId": …}`` or ``None``; dates may be
        ``/Date(ms)/``, ISO strings, ``date``/``datetime`` or epoch ms. ``status`` defaults to
        ``t``; ``lastModifiedDateTime`` to now.

        Raises:
            ValueError: no ``userId``, or it exists already.
        """
        data = self._normalise(fields)
        user_id = data.get("userId")
        if not isinstance(user_id, str) or not user_id:
            raise ValueError("a user needs a non-empty string userId")
        with self.lock:
            if user_id in self._users:
                raise ValueError(f"user {user_id!r} exists already")
            data.setdefault("status", "t")
            data.setdefault("_manager", None)
            if "defaultFullName" not in data and (data.get("firstName") or data.get("lastName")):
                data["defaultFullName"] = " ".join(
                    part for part in (data.get("firstName"), data.get("lastName")) if part
                )
            if data.get("lastModifiedDateTime") is None:
                self._stamp(data)
            else:
                data.setdefault("lastModified", data["lastModifiedDateTime"])
                data.setdefault("lastModifiedWithTZ", data["lastModifiedDateTime"])
            self._users[user_id] = data
            self._api_users.discard(user_id)
            self._touch()
        return user_id

    def update_user(self, user_id: str, /, **fields: Any) -> None:
        """Change fields of a user and bump its ``lastModifiedDateTime`` (unless given).

        Raises:
            KeyError: unknown user.
        """
        data = self._normalise(fields)
        with self.lock:
            user = self._users[user_id]
            explicit = data.pop("lastModifiedDateTime", None)
            user.update(data)
            self._stamp(user, explicit)
            self._touch()

    def remove_user(self, user_id: str, /) -> None:
        """Purge a user (it vanishes from every answer, as after a data purge).

        Raises:
            KeyError: unknown user.
        """
        with self.lock:
            del self._users[user_id]
            self._touch()

    def get_user(self, user_id: str, /) -> dict[str, Any] | None:
        """A copy of the stored user (dates as epoch ms, manager as ``manager``)."""
        with self.lock:
            user = self._users.get(user_id)
            if user is None:
                return None
            copy = {key: value for key, value in user.items() if not key.startswith("_")}
            copy["manager"] = user.get("_manager")
            return copy

    def user_ids(self) -> list[str]:
        """Every userId, in server order."""
        with self.lock:
            return list(self._users)

    @property
    def user_count(self) -> int:
        """How many users (any status)."""
        return len(self._users)

    def users_snapshot(self) -> list[dict[str, Any]]:
        """The stored user rows in server order (read under :attr:`lock`; do not mutate)."""
        with self.lock:
            return list(self._users.values())

    def user_row(self, user_id: str) -> dict[str, Any] | None:
        """The stored row (do not mutate)."""
        return self._users.get(user_id)

    def touch_random(self, *, share: float = 0.01, seed: int | None = None) -> list[str]:
        """Modify ``share`` of the users and return their ids: the input of a delta sync.

        Their location moves and ``lastModifiedDateTime`` is bumped.
        """
        rng = random.Random(seed)  # noqa: S311 - test data, not secrets
        with self.lock:
            ids = list(self._users)
            count = min(len(ids), max(1, round(len(ids) * share))) if ids else 0
            chosen = rng.sample(ids, count)
            stamp = self.now_ms()
            for user_id in chosen:
                user = self._users[user_id]
                current = user.get("location")
                options = [loc for loc in _LOCATIONS if loc[0] != current]
                city, country, zone, locale = rng.choice(options)
                user.update(
                    {
                        "location": city,
                        "city": city,
                        "country": country,
                        "timeZone": zone,
                        "defaultLocale": locale,
                    }
                )
                self._stamp(user, stamp)
            self._touch()
        return chosen

    # ------------------------------------------------------------------ generator

    def generate_users(
        self,
        *,
        n: int,
        seed: int = 7,
        inactive_share: float = 0.03,
        external_share: float = 0.0,
        id_start: int = 100001,
    ) -> list[str]:
        """Generate ``n`` users forming one org tree.

        CEO, division heads, department heads, teams of 3-8, with departments, divisions,
        locations, job codes and titles, grades, hire dates and emails. ``inactive_share``
        of them get status ``f`` (their reports keep pointing at them), ``external_share``
        status ``T``. A few rows carry the blemishes real tenants have: mixed-case emails,
        empty strings, missing emails.

        Returns:
            The new userIds in server order.
        """
        if n < 1:
            return []
        rng = random.Random(seed)  # noqa: S311 - test data, not secrets
        now = self.now()
        now_ms = int(now.timestamp() * 1000)
        day = 86_400_000
        domain = f"{_ascii(self.company_id).lower() or 'company'}.example.com"
        rows: list[dict[str, Any]] = []
        with self.lock:
            next_id = id_start
            used_emails = set(self._by_email_all())
            used_usernames = {str(u.get("username", "")).lower() for u in self._users.values()}
            suffixes: dict[str, int] = {}

            def new_id() -> str:
                nonlocal next_id
                while str(next_id) in self._users:
                    next_id += 1
                value = str(next_id)
                next_id += 1
                return value

            def person(
                manager: str | None,
                division: str,
                department: str,
                role: str,
                grade: int,
                title: str,
                years: tuple[int, int],
            ) -> dict[str, Any]:
                first, last = rng.choice(_FIRST), rng.choice(_LAST)
                city, country, zone, locale = rng.choice(_LOCATIONS)
                base = f"{_ascii(first)}.{_ascii(last)}"
                lower = base.lower()
                suffix = suffixes.get(lower, 1)
                username = lower if suffix == 1 else f"{lower}{suffix}"
                while username in used_usernames or f"{username}@{domain}" in used_emails:
                    suffix += 1
                    username = f"{lower}{suffix}"
                suffixes[lower] = suffix + 1
                used_usernames.add(username)
                used_emails.add(f"{username}@{domain}")
                local = base if rng.random() < 0.3 else lower
                email = f"{local}{username[len(lower) :]}@{domain}"
                hire = now - timedelta(days=rng.randint(years[0] * 365 + 20, years[1] * 365 + 300))
                hire_ms = int(
                    datetime(hire.year, hire.month, hire.day, tzinfo=UTC).timestamp() * 1000
                )
                modified = rng.randint(max(hire_ms, now_ms - 700 * day), now_ms - day)
                user_id = new_id()
                row: dict[str, Any] = {
                    "userId": user_id,
                    "username": username,
                    "status": "t",
                    "firstName": first,
                    "lastName": last,
                    "defaultFullName": f"{first} {last}",
                    "email": email,
                    "empId": user_id,
                    "department": department,
                    "division": division,
                    "location": city,
                    "city": city,
                    "country": country,
                    "timeZone": zone,
                    "defaultLocale": locale,
                    "jobCode": f"{_ascii(role).upper()[:6]}-G{grade:02d}",
                    "jobTitle": title,
                    "title": title,
                    "jobLevel": f"L{grade}",
                    "payGrade": f"GR-{grade:02d}",
                    "hireDate": hire_ms,
                    "origHireDate": hire_ms,
                    "lastModifiedDateTime": modified,
                    "lastModified": modified,
                    "lastModifiedWithTZ": modified,
                    "_manager": manager,
                }
                blemish = rng.random()
                if blemish < 0.004:
                    row["email"] = None
                elif blemish < 0.012:
                    row["jobTitle"] = ""
                    row["title"] = ""
                elif blemish < 0.016:
                    row["department"] = ""
                return row

            ceo = person(
                None,
                "Executive",
                "Executive Office",
                "Executive",
                10,
                "Chief Executive Officer",
                (10, 20),
            )
            rows.append(ceo)
            teams: list[tuple[str, str, str, str]] = []  # (manager id, division, department, role)
            heads: list[dict[str, Any]] = []
            for division, _departments, role in _DIVISIONS:
                if len(rows) >= n:
                    break
                head = person(
                    ceo["userId"],
                    division,
                    f"{division} Leadership",
                    role,
                    9,
                    f"Vice President {division}",
                    (8, 22),
                )
                rows.append(head)
                heads.append(head)
            for head, (division, departments, role) in zip(heads, _DIVISIONS, strict=False):
                for department in departments:
                    if len(rows) >= n:
                        break
                    lead = person(
                        head["userId"],
                        division,
                        department,
                        role,
                        8,
                        f"Head of {department}",
                        (6, 20),
                    )
                    rows.append(lead)
                    teams.append((lead["userId"], division, department, role))
            if not teams:
                teams = [
                    (row["userId"], row["division"], row["department"], "Executive") for row in rows
                ]
            queue: deque[tuple[str, str, str, str, int]] = deque(
                (*team, rng.randint(3, 8)) for team in teams
            )
            weights = [item[2] for item in _SENIORITY]
            while len(rows) < n and queue:
                manager_id, division, department, role, span = queue[0]
                prefix, grade, _, lo, hi = rng.choices(_SENIORITY, weights=weights)[0]
                member = person(
                    manager_id, division, department, role, grade, f"{prefix}{role}", (lo, hi)
                )
                rows.append(member)
                queue.append((member["userId"], division, department, role, rng.randint(3, 8)))
                span -= 1
                if span <= 0:
                    queue.popleft()
                else:
                    queue[0] = (manager_id, division, department, role, span)
            # people with reports become team leads (title and grade follow)
            has_reports = {row["_manager"] for row in rows}
            for row in rows[1 + len(heads) + len(teams) :]:
                if row["userId"] in has_reports:
                    row["jobTitle"] = row["title"] = f"Team Lead {row['department']}".strip()
                    row["jobLevel"], row["payGrade"] = "L7", "GR-07"
            for row in rows[1:]:
                draw = rng.random()
                if draw < inactive_share:
                    row["status"] = "f"
                elif draw < inactive_share + external_share:
                    row["status"] = "T"
            for row in rows:
                self._users[row["userId"]] = row
                self._api_users.discard(row["userId"])
            self._touch()
        return [row["userId"] for row in rows]

    def _by_email_all(self) -> Iterator[str]:
        for user in self._users.values():
            email = user.get("email")
            if isinstance(email, str) and email:
                yield email.lower()

    # ------------------------------------------------------------------ skills

    def add_skill(
        self,
        external_code: str,
        name_en_US: str,
        /,
        *,
        name_de_DE: str | None = None,
        definition_en_US: str | None = None,
        group_en_US: str | None = None,
        status: str = "A",
        **fields: Any,
    ) -> None:
        """Add or replace a ``SkillEntity`` (MDF status ``A`` active, ``I`` inactive)."""
        stamp = self.now_ms()
        row: dict[str, Any] = {
            "externalCode": external_code,
            "name_defaultValue": name_en_US,
            "name_en_US": name_en_US,
            "name_de_DE": name_de_DE,
            "name_localized": name_en_US,
            "definition_defaultValue": definition_en_US,
            "definition_en_US": definition_en_US,
            "definition_localized": definition_en_US,
            "group_defaultValue": group_en_US,
            "group_en_US": group_en_US,
            "group_localized": group_en_US,
            "status": status,
            "createdDateTime": stamp,
            "lastModifiedDateTime": stamp,
            "createdBy": "admin",
            "lastModifiedBy": "admin",
            "mdfSystemRecordStatus": "N",
        }
        row.update(self._normalise(fields))
        with self.lock:
            previous = self._skills.get(external_code)
            if previous is not None:
                row["createdDateTime"] = previous.get("createdDateTime", stamp)
            self._skills[external_code] = row
            self._touch()

    def skill(self, external_code: str) -> dict[str, Any] | None:
        """The stored ``SkillEntity`` row."""
        return self._skills.get(external_code)

    def rate_skill(
        self,
        user_id: str,
        skill_code: str,
        level: int | str,
        /,
        *,
        rater: str = "self",
        external_code: str | None = None,
    ) -> None:
        """Store a ``RatedSkillMapping`` row.

        Key ``SkillProfile_externalCode`` = user id, ``externalCode`` = ``external_code`` or
        the skill code; ``level`` goes into the ``selfRatedLevel_*`` (``rater="self"``),
        ``managerRatedLevel_*`` or ``expectedLevel_*`` strings.

        Raises:
            KeyError: unknown user or skill.
            ValueError: unknown rater.
        """
        if rater not in _RATERS:
            raise ValueError(f"rater must be one of {sorted(_RATERS)}")
        with self.lock:
            if user_id not in self._users:
                raise KeyError(user_id)
            if skill_code not in self._skills:
                raise KeyError(skill_code)
            code = external_code or skill_code
            stamp = self.now_ms()
            key = (user_id, code)
            row = self._rated.get(key)
            if row is None:
                row = {
                    "SkillProfile_externalCode": user_id,
                    "externalCode": code,
                    "skill": skill_code,
                    "status": "A",
                    "createdDateTime": stamp,
                    "createdBy": "admin",
                    "mdfSystemRecordStatus": "N",
                }
                self._rated[key] = row
            for locale in _LEVEL_LOCALES:
                row[f"{_RATERS[rater]}_{locale}"] = str(level)
            row["lastModifiedDateTime"] = stamp
            row["lastModifiedBy"] = "admin"
            self._touch()

    def generate_skills(
        self, *, seed: int = 7, rated_share: float = 0.6, per_user: tuple[int, int] = (1, 4)
    ) -> int:
        """Add the default skill catalogue and random ratings; returns how many were stored.

        ``rated_share`` of the users get 1-4 skills rated 1-5 by themselves (half of them by
        their manager too).
        """
        rng = random.Random(seed)  # noqa: S311 - test data, not secrets
        for code, name_en, name_de, group in DEFAULT_SKILLS:
            self.add_skill(
                code, name_en, name_de_DE=name_de, group_en_US=group, definition_en_US=f"{name_en}."
            )
        count = 0
        codes = [item[0] for item in DEFAULT_SKILLS]
        for user_id in self.user_ids():
            if rng.random() >= rated_share:
                continue
            for code in rng.sample(codes, rng.randint(*per_user)):
                self.rate_skill(user_id, code, rng.randint(1, 5), rater="self")
                if rng.random() < 0.5:
                    self.rate_skill(user_id, code, rng.randint(1, 5), rater="manager")
                count += 1
        return count

    @property
    def rated_skill_mappings(self) -> dict[tuple[str, str], dict[str, Any]]:
        """``RatedSkillMapping`` rows by ``(SkillProfile_externalCode, externalCode)`` (copies)."""
        with self.lock:
            return {key: dict(row) for key, row in self._rated.items()}

    def add_competency_rating(
        self,
        *,
        user_id: str,
        competency_id: str,
        name: str,
        rating: float,
        scale_min: float = 1.0,
        scale_max: float = 5.0,
        source: str = "PM Form",
        rater: str | None = None,
        form_data_id: int | None = None,
    ) -> int:
        """Add a (read-only) ``CompetencyRating`` row; returns its id."""
        with self.lock:
            rating_id = 1 + max(self._competency_ratings, default=700000)
            self._competency_ratings[rating_id] = {
                "id": rating_id,
                "userId": user_id,
                "competencyId": competency_id,
                "name": name,
                "rating": rating,
                "scaleMin": scale_min,
                "scaleMax": scale_max,
                "source": source,
                "rater": rater,
                "raterCategory": "Manager" if rater else "Self",
                "formDataId": form_data_id,
                "lastModifiedDateTime": self.now_ms(),
            }
            self._touch()
            return rating_id

    def next_code(self) -> str:
        """A generated MDF ``externalCode`` (for rows upserted without one)."""
        with self.lock:
            self._code_seq += 1
            return str(self._code_seq)

    # ------------------------------------------------------------------ rows for the server

    def _ensure_indexes(self) -> None:
        if self._index_version == self.version:
            return
        children: dict[str, list[str]] = {}
        by_username: dict[str, str] = {}
        by_email: dict[str, str] = {}
        for user_id, user in self._users.items():
            manager = user.get("_manager")
            if manager:
                children.setdefault(manager, []).append(user_id)
            username = user.get("username")
            if isinstance(username, str) and username:
                by_username.setdefault(username.lower(), user_id)
            email = user.get("email")
            if isinstance(email, str) and email:
                by_email.setdefault(email.lower(), user_id)
        rated: dict[str, list[dict[str, Any]]] = {}
        for (profile, _code), row in self._rated.items():
            rated.setdefault(profile, []).append(row)
        reported: dict[str, list[dict[str, Any]]] = {}
        for (profile, _code), row in self._self_reported.items():
            reported.setdefault(profile, []).append(row)
        self._children, self._by_username, self._by_email = children, by_username, by_email
        self._rated_by_profile, self._self_by_profile = rated, reported
        self._index_version = self.version

    def direct_reports(self, user_id: str) -> list[dict[str, Any]]:
        """The rows of the users whose manager is ``user_id``."""
        with self.lock:
            self._ensure_indexes()
            return [
                self._users[child]
                for child in self._children.get(user_id, ())
                if child in self._users
            ]

    def rated_for(self, profile: str) -> list[dict[str, Any]]:
        """``RatedSkillMapping`` rows of one skill profile."""
        with self.lock:
            self._ensure_indexes()
            return list(self._rated_by_profile.get(profile, ()))

    def self_reported_for(self, profile: str) -> list[dict[str, Any]]:
        """``SelfReportSkillMapping`` rows of one skill profile."""
        with self.lock:
            self._ensure_indexes()
            return list(self._self_by_profile.get(profile, ()))

    def skill_profile(self, user_id: str) -> dict[str, Any] | None:
        """The ``SkillProfile`` of a user (every user has one; key = userId)."""
        with self.lock:
            user = self._users.get(user_id)
            if user is None:
                return None
            self._ensure_indexes()
            stamps = [
                row.get("lastModifiedDateTime") or 0
                for row in self._rated_by_profile.get(user_id, ())
            ]
            return {
                "externalCode": user_id,
                "status": "A",
                "createdDateTime": user.get("hireDate"),
                "lastModifiedDateTime": max([*stamps, user.get("lastModifiedDateTime") or 0]),
                "createdBy": "admin",
                "lastModifiedBy": "admin",
                "mdfSystemRecordStatus": "N",
            }

    def rows_of(self, entity_set: str) -> list[dict[str, Any]]:
        """Every stored row of an entity set in server order (read under :attr:`lock`)."""
        with self.lock:
            if entity_set == "User":
                return list(self._users.values())
            if entity_set == "SkillEntity":
                return list(self._skills.values())
            if entity_set == "RatedSkillMapping":
                return list(self._rated.values())
            if entity_set == "SelfReportSkillMapping":
                return list(self._self_reported.values())
            if entity_set == "CompetencyRating":
                return list(self._competency_ratings.values())
            if entity_set == "SkillProfile":
                return [profile for uid in self._users if (profile := self.skill_profile(uid))]
            return []

    def store_mdf(
        self, entity_set: str, key: tuple[str, ...], row: dict[str, Any], *, user: str
    ) -> bool:
        """Insert or merge an upserted MDF row; returns ``True`` when it was new."""
        stamp = self.now_ms()
        with self.lock:
            table: dict[Any, dict[str, Any]]
            if entity_set == "RatedSkillMapping":
                table = self._rated
            elif entity_set == "SelfReportSkillMapping":
                table = self._self_reported
            elif entity_set == "SkillEntity":
                table = self._skills
            else:
                return False
            store_key: Any = key[0] if entity_set == "SkillEntity" else key
            existing = table.get(store_key)
            if existing is None:
                row.setdefault("createdDateTime", stamp)
                row.setdefault("createdBy", user)
                row.setdefault("mdfSystemRecordStatus", "N")
                table[store_key] = row
            else:
                existing.update(row)
                row = existing
            row["lastModifiedDateTime"] = stamp
            row["lastModifiedBy"] = user
            self._touch()
            return existing is None

    def rated_row(self, profile: str, external_code: str) -> dict[str, Any] | None:
        """The stored ``RatedSkillMapping`` row with this key (do not mutate)."""
        return self._rated.get((profile, external_code))

    def find_rated_by_skill(self, profile: str, skill: str) -> dict[str, Any] | None:
        """The ``RatedSkillMapping`` of ``profile`` that references ``skill``, if any."""
        with self.lock:
            for (owner, _code), row in self._rated.items():
                if owner == profile and row.get("skill") == skill:
                    return row
        return None

    # ------------------------------------------------------------------ Learning

    @property
    def learning_events(self) -> list[dict[str, Any]]:
        """Every ``ExternalLearningEvents`` record accepted, in order (copies)."""
        with self.lock:
            return [dict(event) for event in self._learning_events]

    def record_learning_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Store an accepted external learning event and its learning-history entry."""
        with self.lock:
            self._history_seq += 1
            stored = {**event, "studentComponentID": self._history_seq, "receivedAt": self.now_ms()}
            self._learning_events.append(stored)
            self.add_learning_history(
                str(event["studentID"]),
                componentTypeID="EXTERNAL",
                title=event.get("description"),
                description=event.get("description"),
                completionDate=event.get("completionDate"),
                completionTimeZoneID=event.get("completionTimeZoneID"),
                totalHours=event.get("totalHours"),
                creditHours=event.get("creditHours"),
                cpeHours=event.get("cpeHours"),
                contactHours=event.get("contactHours"),
                grade=event.get("grade"),
                instructorName=event.get("instructorName"),
                comments=event.get("comments"),
                studentComponentID=self._history_seq,
            )
            return dict(stored)

    def add_learning_history(self, student_id: str, /, **entry: Any) -> None:
        """Add a learning-history entry (e.g. a completion recorded before Tandem existed)."""
        with self.lock:
            if "studentComponentID" not in entry:
                self._history_seq += 1
                entry["studentComponentID"] = self._history_seq
            row = {
                "componentTypeID": entry.pop("componentTypeID", "COURSE"),
                "componentID": entry.pop("componentID", None),
                "revisionDate": entry.pop("revisionDate", None),
                "title": entry.pop("title", None),
                "completionStatusID": entry.pop("completionStatusID", "COMPLETE"),
                "completionDate": entry.pop("completionDate", None),
                "totalHours": entry.pop("totalHours", None),
                "creditHours": entry.pop("creditHours", None),
                "lastUpdateTimestamp": self.now_ms(),
                "status": entry.pop("status", "Completed"),
                **entry,
            }
            self._history.setdefault(student_id, []).append(row)

    def learning_history(self, student_id: str) -> list[dict[str, Any]]:
        """A student's learning history (copies)."""
        with self.lock:
            return [dict(row) for row in self._history.get(student_id, ())]

    def learning_rate_limited(self) -> float | None:
        """Count one Learning call; return seconds to wait when over the per-minute limit."""
        limit = self.learning_rate_limit_per_minute
        if not limit:
            return None
        now = self.now().timestamp()
        with self.lock:
            while self._learning_calls and now - self._learning_calls[0] >= 60:
                self._learning_calls.popleft()
            if len(self._learning_calls) >= limit:
                return max(1.0, 60 - (now - self._learning_calls[0]))
            self._learning_calls.append(now)
        return None

    # ------------------------------------------------------------------ datasets

    def _load(self, path: str | Path | Mapping[str, Any]) -> FakeTenant:
        if isinstance(path, Mapping):
            data: Any = path
        else:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        self.load_dataset(data)
        return self

    load: _hybridmethod[FakeTenant, FakeTenant] = _hybridmethod(_load)
    """Load a dataset file: ``FakeTenant.load(path, company_id=…)`` builds a tenant,
    ``tenant.load(path)`` adds to an existing one. See :meth:`load_dataset` for the format."""

    def load_dataset(self, data: Any) -> None:
        """Load users, skills and ratings.

        ``data`` is a JSON list of SuccessFactors user dicts, or an object with ``users``
        (that list), optional ``skills`` (``SkillEntity`` dicts with ``externalCode`` and
        ``name_en_US``), ``ratings`` (``{"userId", "skill", "level", "rater"?}``) and
        ``learningHistory`` (``{"studentID", …entry}``). Users may name managers that come
        later in the list.

        Raises:
            ValueError: malformed dataset.
        """
        if isinstance(data, list):
            data = {"users": data}
        if not isinstance(data, Mapping) or not isinstance(data.get("users", []), list):
            raise ValueError("a dataset is a list of users or an object with a 'users' list")
        with self.lock:
            for user in data.get("users", []):
                if not isinstance(user, Mapping):
                    raise ValueError("every user must be an object")
                self.add_user(user)
            for skill in data.get("skills", []):
                fields = dict(skill)
                code = fields.pop("externalCode")
                name = fields.pop("name_en_US", None) or fields.pop("name_defaultValue", code)
                self.add_skill(str(code), str(name), **fields)
            for rating in data.get("ratings", []):
                self.rate_skill(
                    str(rating["userId"]),
                    str(rating["skill"]),
                    rating["level"],
                    rater=str(rating.get("rater", "self")),
                )
            for entry in data.get("learningHistory", []):
                fields = dict(entry)
                self.add_learning_history(str(fields.pop("studentID")), **fields)

    def to_dataset(self) -> dict[str, Any]:
        """The tenant's users, skills and ratings in the :meth:`load_dataset` format."""
        with self.lock:
            users = []
            for user in self._users.values():
                row = {key: value for key, value in user.items() if not key.startswith("_")}
                row["manager"] = user.get("_manager")
                users.append(row)
            skills = [dict(row) for row in self._skills.values()]
            ratings = []
            for (profile, _code), row in self._rated.items():
                for rater, prefix in _RATERS.items():
                    level = row.get(f"{prefix}_defaultValue")
                    if level is not None:
                        ratings.append(
                            {
                                "userId": profile,
                                "skill": row.get("skill"),
                                "level": level,
                                "rater": rater,
                            }
                        )
            return {"users": users, "skills": skills, "ratings": ratings}

    def iter_users(self, ids: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        """Copies of users (all, or ``ids``) as :meth:`get_user` returns them."""
        for user_id in list(ids) if ids is not None else self.user_ids():
            user = self.get_user(user_id)
            if user is not None:
                yield user
