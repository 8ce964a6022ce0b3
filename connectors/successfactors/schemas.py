"""SuccessFactors OData v2 payloads → Tandem records (marshmallow at the edge).

Every schema ignores unknown fields (``unknown = EXCLUDE``: tenants add ``custom01..15``,
``__metadata`` …), turns empty strings into ``None`` and builds its record in
``@post_load``. A row that fails becomes an :class:`~plugin.records.InvalidRecord` with
the reason (field names and rules, never values) and the raw row, for the quarantine.

Values (reference §2, §3):

* ``/Date(1388966400000)/`` (``Edm.DateTime``) and ``/Date(1587072082000+0000)/``
  (``Edm.DateTimeOffset``): milliseconds since the epoch, in UTC for both — the offset
  suffix only says which zone the value was entered in, so it is not added again.
  Negative milliseconds (dates before 1970) and ISO 8601 strings are accepted too. Date
  fields (``hireDate``) keep the UTC calendar date.
* ``status``: ``t`` active, ``f`` inactive (employees); ``T``/``F`` the same for external
  360 participants; ``e``/``d`` active/inactive external suite users (KBA 2736579). Any
  other value is quarantined.
* ``manager``: an expanded object (``{"userId": …}``), ``null`` (no manager) or
  ``{"__deferred": …}`` (not expanded: the connector reads it separately, see
  :mod:`connectors.successfactors.connector`). ``NO_MANAGER`` (an import placeholder)
  means none.
* ``email`` is lower-cased; ``country`` becomes an ISO alpha-2 code (:func:`country_code`:
  codes, English names, common alpha-3 codes; unknown → ``None``),
  ``timeZone`` only when it looks like an IANA name (``Area/City`` or ``UTC``);
  ``defaultLocale`` (``de_DE``) gives the person's language (``de``).
* Skills: ``SkillEntity`` names from ``name_en_US`` (else ``name_defaultValue``,
  ``name_localized``), ``name_de_DE``; ``RatedSkillMapping`` levels from the manager
  rating, else the self rating (``…_defaultValue``, ``…_localized``, ``…_en_US``), as
  ``1``–``5`` or the usual proficiency words.

A sync reads up to 100,000 users, so a well-formed ``User`` row takes a fast path that
gives exactly the schema's record (tested side by side); any row it does not find
ordinary goes through :class:`UserSchema`, which decides and words the reason.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate

from plugin.records import InvalidRecord, PersonRecord, PersonSkillRecord, SkillRecord

__all__ = [
    "DEFERRED",
    "STATUS_ACTIVE",
    "PersonSkillSchema",
    "SkillSchema",
    "UserSchema",
    "country_code",
    "is_deferred",
    "load_person",
    "load_person_skill",
    "load_skill",
    "manager_id",
    "parse_level",
    "parse_odata_datetime",
]

#: ``status`` → active, for the six statuses SuccessFactors uses.
STATUS_ACTIVE: Mapping[str, bool] = {
    "t": True,
    "f": False,
    "T": True,
    "F": False,
    "e": True,
    "d": False,
}
#: The manager was not expanded (``__deferred``): unknown, to be read separately.
DEFERRED = "\x00deferred"

_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{1,4})?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LOCALE = re.compile(r"^([A-Za-z]{2})(?:[_-][A-Za-z0-9]+)*$")
_IANA = re.compile(r"^(UTC|[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)+)$")
_LEVEL_WORDS = {
    "none": None,
    "beginner": 1,
    "novice": 1,
    "basic": 2,
    "elementary": 2,
    "developing": 2,
    "intermediate": 3,
    "proficient": 3,
    "competent": 3,
    "advanced": 4,
    "strong": 4,
    "expert": 5,
    "master": 5,
}
_NO_MANAGER = frozenset({"NO_MANAGER", "NOMANAGER"})
# Where the rating picked from the localized level fields travels through the schema.
_RATING = "__tandem_rating"


def parse_odata_datetime(value: Any) -> datetime | None:
    """``/Date(ms[±hhmm])/`` or ISO 8601 → aware UTC datetime; ``None`` for empty.

    Raises:
        ValueError: Not a date SuccessFactors would send.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("not a date")
    text = value.strip()
    found = _DATE.match(text)
    if found:
        # The milliseconds are UTC; the suffix is informative only (OData v2 JSON).
        seconds, millis = divmod(int(found[1]), 1000)
        return _EPOCH + timedelta(0, seconds, millis * 1000)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("not a /Date(…)/ or ISO 8601 value") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


class ODataDateTime(fields.Field[datetime | None]):
    """A ``/Date(…)/`` value as an aware UTC datetime."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> datetime | None:
        try:
            return parse_odata_datetime(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class ODataDate(fields.Field[date | None]):
    """A ``/Date(…)/`` value as a calendar date (UTC)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> date | None:
        try:
            when = parse_odata_datetime(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        return when.date() if when is not None else None


def is_deferred(value: Any) -> bool:
    """Whether a navigation property came back as ``{"__deferred": {"uri": …}}``."""
    return isinstance(value, Mapping) and "__deferred" in value


class ManagerRef(fields.Field[str | None]):
    """``manager``: expanded object → its ``userId``; ``null`` → None; deferred → DEFERRED."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str | None:
        try:
            return manager_id(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


def manager_id(value: Any) -> str | None:
    """The manager's ``userId`` of a ``manager`` value; ``None`` for none, or DEFERRED.

    Raises:
        ValueError: Not a shape SuccessFactors sends.
    """
    if value is None:
        return None
    if is_deferred(value):
        return DEFERRED
    if isinstance(value, Mapping):
        results = value.get("results")
        if isinstance(results, list):  # a 1:n shape some tenants use
            value = results[0] if results else None
            if value is None:
                return None
            if not isinstance(value, Mapping):
                raise ValueError("not a user object")
        user_id = value.get("userId")
        if user_id is None or (isinstance(user_id, str) and not user_id.strip()):
            return None
        if not isinstance(user_id, str):
            raise ValueError("manager userId is not text")
        user_id = user_id.strip()
        return None if user_id.upper() in _NO_MANAGER else user_id
    if isinstance(value, str):  # a plain manager id (older APIs / custom selects)
        text = value.strip()
        return None if not text or text.upper() in _NO_MANAGER else text
    raise ValueError("not a manager object")


# Names SuccessFactors tenants commonly use that the tz database spells otherwise.
_COUNTRY_ALIASES = {
    "USA": "US",
    "UNITED STATES OF AMERICA": "US",
    "UK": "GB",
    "UNITED KINGDOM": "GB",
    "GREAT BRITAIN": "GB",
    "CZECHIA": "CZ",
    "TURKIYE": "TR",
    "TÜRKIYE": "TR",
    "SOUTH KOREA": "KR",
    "KOREA, REPUBLIC OF": "KR",
    "RUSSIAN FEDERATION": "RU",
    "DEU": "DE",
    "AUT": "AT",
    "CHE": "CH",
    "FRA": "FR",
    "ITA": "IT",
    "ESP": "ES",
    "NLD": "NL",
    "BEL": "BE",
    "POL": "PL",
    "GBR": "GB",
    "IRL": "IE",
    "SWE": "SE",
    "DNK": "DK",
    "NOR": "NO",
    "FIN": "FI",
    "PRT": "PT",
    "CZE": "CZ",
    "CAN": "CA",
    "MEX": "MX",
    "BRA": "BR",
    "ARG": "AR",
    "IND": "IN",
    "CHN": "CN",
    "JPN": "JP",
    "KOR": "KR",
    "SGP": "SG",
    "AUS": "AU",
    "NZL": "NZ",
    "ZAF": "ZA",
}


@functools.cache
def _country_names() -> dict[str, str]:
    """English country names → ISO alpha-2, from the tz database's ``iso3166.tab``."""
    text = None
    try:
        text = resources.files("tzdata").joinpath("zoneinfo/iso3166.tab").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        for base in zoneinfo.TZPATH:
            path = Path(base) / "iso3166.tab"
            if path.is_file():
                text = path.read_text("utf-8")
                break
    names: dict[str, str] = {}
    short: dict[str, set[str]] = {}
    for line in (text or "").splitlines():
        if line.startswith("#") or "\t" not in line:
            continue
        code, name = (part.strip() for part in line.split("\t", 1))
        names[name.upper()] = code.upper()
        if "(" in name:  # "Britain (UK)"; but "Korea (North)"/"Korea (South)" stay ambiguous
            short.setdefault(name.split("(")[0].strip().upper(), set()).add(code.upper())
    for name, codes in short.items():
        if len(codes) == 1 and name not in names:
            names[name] = codes.pop()
    return names


def country_code(value: str | None) -> str | None:
    """ISO 3166-1 alpha-2 of a country as SuccessFactors tenants write it, if known.

    ``de`` → ``DE``; ``Germany``, ``Poland``, ``United States`` (names of the tz
    database's ``iso3166.tab``) and common alpha-3 codes and aliases (``DEU``, ``USA``,
    ``United Kingdom``) → their code; anything else → ``None`` (never a guess).
    """
    if not value:
        return None
    text = value.strip()
    if re.fullmatch(r"[A-Za-z]{2}", text):
        return text.upper()
    key = " ".join(text.upper().split())
    return _COUNTRY_ALIASES.get(key) or _country_names().get(key)


def _clean(data: Any) -> Any:
    """Strip strings; empty strings → None (SuccessFactors sends "" for unset fields)."""
    if not isinstance(data, Mapping):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, str):
            value = value.strip()
            out[key] = value or None
        else:
            out[key] = value
    return out


def _opt(length: int = 255) -> fields.String:
    return fields.String(load_default=None, allow_none=True, validate=validate.Length(max=length))


class UserSchema(Schema):
    """A ``User`` row → :class:`PersonRecord` (manager may be :data:`DEFERRED`)."""

    class Meta:
        """Tenants add fields (``custom01``…, ``__metadata``): ignore them."""

        unknown = EXCLUDE

    userId = fields.String(required=True, validate=validate.Length(min=1, max=100))
    status = fields.String(
        required=True,
        validate=validate.OneOf(
            sorted(STATUS_ACTIVE), error="not one of the SuccessFactors statuses t f T F e d"
        ),
    )
    firstName = fields.String(
        required=True,
        validate=validate.Length(min=1, max=128),
        error_messages={"required": "is missing or empty", "null": "is missing or empty"},
    )
    lastName = fields.String(
        required=True,
        validate=validate.Length(min=1, max=128),
        error_messages={"required": "is missing or empty", "null": "is missing or empty"},
    )
    email = _opt(320)
    department = _opt()
    division = _opt()
    location = _opt()
    jobTitle = _opt()
    country = fields.String(load_default=None, allow_none=True)
    timeZone = fields.String(load_default=None, allow_none=True)
    defaultLocale = fields.String(load_default=None, allow_none=True)
    hireDate = ODataDate(load_default=None, allow_none=True)
    lastModifiedDateTime = ODataDateTime(load_default=None, allow_none=True)
    lastModified = ODataDateTime(load_default=None, allow_none=True)
    manager = ManagerRef(load_default=None, allow_none=True)

    @pre_load
    def _strip(self, data: Any, **kwargs: Any) -> Any:
        return _clean(data)

    @post_load
    def _record(self, data: dict[str, Any], **kwargs: Any) -> PersonRecord:
        return _person_record(data)


def _person_record(data: Mapping[str, Any]) -> PersonRecord:
    """The record of a ``User`` row already checked (by :class:`UserSchema` or the fast path)."""
    country = data.get("country")
    zone = data.get("timeZone")
    email = data.get("email")
    locale = data.get("defaultLocale")
    language = _LOCALE.match(locale) if locale else None
    return PersonRecord(
        external_id=data["userId"],
        given_name=data["firstName"],
        family_name=data["lastName"],
        active=STATUS_ACTIVE[data["status"]],
        email=email.lower() if email else None,
        manager_external_id=data.get("manager"),
        department=data.get("department"),
        division=data.get("division"),
        location=data.get("location"),
        country=country_code(country),
        time_zone=zone if zone and _IANA.match(zone) else None,
        languages=(language.group(1).lower(),) if language else (),
        job_title=data.get("jobTitle"),
        hire_date=data.get("hireDate"),
        modified_at=data.get("lastModifiedDateTime") or data.get("lastModified"),
    )


class _Slow(Exception):
    """The fast path met something unusual: let the schema judge the row."""


# Fields with few distinct values (departments, titles, countries, zones, locales) are
# cleaned once per distinct raw value; each memo stops growing at this many values.
_MEMO_MAX = 10_000


class _Memo(dict[str, Any]):
    """Raw text → what the schema makes of it, computed once per distinct value (bounded).

    ``convert`` raises :class:`_Slow` for a value the fast path does not decide (never
    remembered). Reads and writes are single dict operations: safe from several threads.
    """

    def __init__(self, convert: Callable[[str], Any]) -> None:
        super().__init__()
        self.convert = convert

    def __missing__(self, raw: str) -> Any:
        value = self.convert(raw)
        if len(self) < _MEMO_MAX:
            self[raw] = value
        return value


def _text_255(raw: str) -> str | None:
    text = raw.strip()
    if len(text) > 255:
        raise _Slow
    return text or None


def _zone(raw: str) -> str | None:
    zone = raw.strip()
    return zone if zone and _IANA.match(zone) else None


def _language(raw: str) -> tuple[str, ...]:
    locale = raw.strip()
    found = _LOCALE.match(locale) if locale else None
    return (found.group(1).lower(),) if found else ()


def _hire_date(raw: str) -> date | None:
    try:
        when = parse_odata_datetime(raw)
    except ValueError:
        raise _Slow from None
    return when.date() if when is not None else None


_TEXT_MEMO = _Memo(_text_255)
_COUNTRY_MEMO = _Memo(lambda raw: country_code(raw.strip() or None))
_ZONE_MEMO = _Memo(_zone)
_LANGUAGE_MEMO = _Memo(_language)
_HIRE_MEMO = _Memo(_hire_date)


def _fast_person(row: Mapping[str, Any]) -> PersonRecord:
    """:class:`UserSchema`'s result for a well-formed row, without marshmallow's overhead.

    A sync reads 100,000 users; the schema costs ~90 µs a row, this ~5 µs (fields with few
    distinct values are cleaned once per value, see :class:`_Memo`). Anything the schema
    would refuse (or that is merely unusual) raises :class:`_Slow`, and the schema decides
    — so invalid rows always get the schema's reason (tested side by side).
    """
    get = row.get
    user_id, first, last, status = get("userId"), get("firstName"), get("lastName"), get("status")
    if not (type(user_id) is type(first) is type(last) is type(status) is str):
        raise _Slow
    user_id, first, last = user_id.strip(), first.strip(), last.strip()
    active = STATUS_ACTIVE.get(status.strip())
    if active is None or not (
        0 < len(user_id) <= 100 and 0 < len(first) <= 128 and 0 < len(last) <= 128
    ):
        raise _Slow
    email = get("email")
    if email is not None:
        if type(email) is not str:
            raise _Slow
        email = email.strip()
        if len(email) > 320:
            raise _Slow
        email = email.lower() or None
    memo: list[Any] = []
    for name, table in _MEMOS:
        raw = get(name)
        if raw is None:
            memo.append(None)
        elif type(raw) is str:
            memo.append(table[raw])
        else:
            raise _Slow
    department, division, location, job_title, country, zone, languages, hired = memo
    try:  # both parsed: the schema refuses a bad lastModified even beside a good one
        modified = parse_odata_datetime(get("lastModifiedDateTime"))
        fallback = parse_odata_datetime(get("lastModified"))
    except ValueError:
        raise _Slow from None
    manager = get("manager")
    if type(manager) is dict and "__deferred" not in manager and "results" not in manager:
        boss = manager.get("userId")
        if boss is not None and type(boss) is not str:
            raise _Slow
        boss = boss.strip() if boss else None
        manager_ext = boss if boss and boss.upper() not in _NO_MANAGER else None
    else:
        if type(manager) is str:
            manager = manager.strip() or None  # as the schema's pre_load
        try:
            manager_ext = manager_id(manager)
        except ValueError:
            raise _Slow from None
    return PersonRecord(
        external_id=user_id,
        given_name=first,
        family_name=last,
        active=active,
        email=email,
        manager_external_id=manager_ext,
        department=department,
        division=division,
        location=location,
        country=country,
        time_zone=zone,
        languages=languages or (),
        job_title=job_title,
        hire_date=hired,
        modified_at=modified or fallback,
    )


# (field, memo) of the fields cleaned through a memo, in _fast_person's unpacking order.
_MEMOS: tuple[tuple[str, _Memo], ...] = (
    ("department", _TEXT_MEMO),
    ("division", _TEXT_MEMO),
    ("location", _TEXT_MEMO),
    ("jobTitle", _TEXT_MEMO),
    ("country", _COUNTRY_MEMO),
    ("timeZone", _ZONE_MEMO),
    ("defaultLocale", _LANGUAGE_MEMO),
    ("hireDate", _HIRE_MEMO),
)


def _reason(messages: Any) -> str:
    """``field: rule; …`` from marshmallow's messages (they never quote values)."""
    parts: list[str] = []
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            text = value if isinstance(value, str) else " ".join(str(v) for v in _flat(value))
            parts.append(f"{key}: {text}")
    else:
        parts.extend(str(v) for v in _flat(messages))
    return "; ".join(parts) or "invalid record"


def _flat(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return [item for v in value for item in _flat(v)]
    if isinstance(value, Mapping):
        return [item for v in value.values() for item in _flat(v)]
    return [value]


def _key(row: Any, name: str) -> str | None:
    if isinstance(row, Mapping):
        value = row.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return None


def _raw(row: Any) -> Mapping[str, Any]:
    return row if isinstance(row, Mapping) else {"value": row}


_USER = UserSchema()


def load_person(row: Any) -> PersonRecord | InvalidRecord:
    """One ``User`` row → a record, or the reason it cannot be one."""
    if not isinstance(row, Mapping):
        return InvalidRecord(entity="person", reason="the row is not an object", raw=_raw(row))
    try:
        return _fast_person(row)
    except _Slow:
        pass
    try:
        record: PersonRecord = _USER.load(row)
    except ValidationError as exc:
        return InvalidRecord(
            entity="person",
            reason=_reason(exc.messages),
            raw=row,
            external_id=_key(row, "userId"),
        )
    return record


class SkillSchema(Schema):
    """A ``SkillEntity`` row → :class:`SkillRecord`."""

    class Meta:
        """Tenants add fields (``custom01``…, ``__metadata``): ignore them."""

        unknown = EXCLUDE

    externalCode = fields.String(required=True, validate=validate.Length(min=1, max=128))
    name_en_US = _opt()
    name_defaultValue = _opt()
    name_localized = _opt()
    name_de_DE = _opt()
    lastModifiedDateTime = ODataDateTime(load_default=None, allow_none=True)

    @pre_load
    def _strip(self, data: Any, **kwargs: Any) -> Any:
        return _clean(data)

    @post_load
    def _record(self, data: dict[str, Any], **kwargs: Any) -> SkillRecord:
        name = data.get("name_en_US") or data.get("name_defaultValue") or data.get("name_localized")
        if not name:
            raise ValidationError("has no name (name_en_US or name_defaultValue)", "name")
        return SkillRecord(
            external_id=data["externalCode"],
            name=name,
            name_de=data.get("name_de_DE"),
            modified_at=data.get("lastModifiedDateTime"),
        )


_SKILL = SkillSchema()


def load_skill(row: Any) -> SkillRecord | InvalidRecord:
    """One ``SkillEntity`` row → a record, or the reason it cannot be one."""
    if not isinstance(row, Mapping):
        return InvalidRecord(entity="skill", reason="the row is not an object", raw=_raw(row))
    try:
        record: SkillRecord = _SKILL.load(row)
    except ValidationError as exc:
        return InvalidRecord(
            entity="skill",
            reason=_reason(exc.messages),
            raw=row,
            external_id=_key(row, "externalCode"),
        )
    return record


def parse_level(value: Any) -> int | None:
    """A rating as 1–5: a number (``"3"``, ``3.0``, ``"Level 4"``) or a proficiency word.

    Raises:
        ValueError: A value that is not a 1–5 level.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("not a level")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip().lower()
        if text in _LEVEL_WORDS:
            return _LEVEL_WORDS[text]
        found = re.search(r"\d+(\.\d+)?", text)
        if not found:
            raise ValueError("not a 1–5 level")
        number = float(found.group(0))
    if number != int(number) or not 1 <= number <= 5:
        raise ValueError("not a 1–5 level")
    return int(number)


def _first(data: Mapping[str, Any], stem: str) -> Any:
    for suffix in ("_defaultValue", "_localized", "_en_US", ""):
        value = data.get(stem + suffix)
        if value not in (None, ""):
            return value
    return None


class PersonSkillSchema(Schema):
    """A ``RatedSkillMapping`` row → :class:`PersonSkillRecord`."""

    class Meta:
        """Tenants add fields (``custom01``…, ``__metadata``): ignore them."""

        unknown = EXCLUDE

    SkillProfile_externalCode = fields.String(
        required=True, validate=validate.Length(min=1, max=100)
    )
    externalCode = fields.String(required=True, validate=validate.Length(min=1, max=128))
    skill = _opt(128)
    lastModifiedDateTime = ODataDateTime(load_default=None, allow_none=True)
    effectiveStartDate = ODataDate(load_default=None, allow_none=True)

    rating = fields.Raw(data_key=_RATING, load_default=None, allow_none=True)

    @pre_load
    def _strip(self, data: Any, **kwargs: Any) -> Any:
        cleaned = _clean(data)
        if isinstance(cleaned, dict):
            manager = _first(cleaned, "managerRatedLevel")
            cleaned[_RATING] = manager if manager is not None else _first(cleaned, "selfRatedLevel")
        return cleaned

    @post_load
    def _record(self, data: dict[str, Any], **kwargs: Any) -> PersonSkillRecord:
        try:
            level = parse_level(data.get("rating"))
        except ValueError as exc:
            raise ValidationError(str(exc), "level") from None
        if level is None:
            raise ValidationError("no manager or self rating", "level")
        modified = data.get("lastModifiedDateTime")
        assessed = modified.date() if modified is not None else data.get("effectiveStartDate")
        if assessed is None:
            raise ValidationError("no lastModifiedDateTime or effectiveStartDate", "date")
        return PersonSkillRecord(
            person_external_id=data["SkillProfile_externalCode"],
            skill_external_id=data.get("skill") or data["externalCode"],
            level=level,
            assessed_on=assessed,
            modified_at=modified,
        )


_PERSON_SKILL = PersonSkillSchema()


def load_person_skill(row: Any) -> PersonSkillRecord | InvalidRecord:
    """One ``RatedSkillMapping`` row → a record, or the reason it cannot be one."""
    if not isinstance(row, Mapping):
        return InvalidRecord(
            entity="person_skill", reason="the row is not an object", raw=_raw(row)
        )
    try:
        record: PersonSkillRecord = _PERSON_SKILL.load(row)
    except ValidationError as exc:
        return InvalidRecord(
            entity="person_skill",
            reason=_reason(exc.messages),
            raw=row,
            external_id=_key(row, "externalCode"),
        )
    return record
