"""The Flask app of the SuccessFactors fake.

OData v2 (``/odata/v2``), the OAuth token server (``/oauth/token``), Learning
(``/learning/…``, see :mod:`.learning`) and the admin endpoints (``/_fake/…``, see
:mod:`.admin`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import operator
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring as _encode_str
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape, quoteattr

from flask import Flask, Response, g, request

from fakes.successfactors.admin import register_admin
from fakes.successfactors.learning import register_learning
from fakes.successfactors.metadata import EntityType, Metadata, NavProperty, load_metadata
from fakes.successfactors.odata import (
    ALL,
    ODataError,
    ResolvedPath,
    bad_request,
    compile_filter,
    decode_skiptoken,
    encode_skiptoken,
    filter_has_or,
    filter_mentions,
    format_value,
    parse_datetime_literal,
    parse_expand,
    parse_filter,
    parse_select,
    to_ms,
)
from fakes.successfactors.responses import json_response
from fakes.successfactors.saml import TokenError, verify_assertion
from fakes.successfactors.tenant import ACTIVE_STATUSES, FakeTenant

__all__ = ["ODataServer", "create_app", "json_response"]

ODATA = "/odata/v2"
MAX_PAGE = 1000
_MDF_SETS = frozenset(
    {"SkillEntity", "SkillProfile", "RatedSkillMapping", "SelfReportSkillMapping"}
)
_KNOWN_OPTIONS = frozenset(
    {
        "$format",
        "$select",
        "$expand",
        "$filter",
        "$top",
        "$skip",
        "$skiptoken",
        "$orderby",
        "$inlinecount",
    }
)
_RESOURCE = re.compile(
    r"^(?P<set>[A-Za-z_][\w]*)(?:\((?P<key>.*)\))?(?:/(?P<nav>\$?[A-Za-z_][\w]*))?$"
)
_MAINTENANCE_PAGE = (
    "<!DOCTYPE html><html><head><title>SAP SuccessFactors - Scheduled Maintenance</title></head>"
    "<body><h1>We'll be back soon</h1><p>SAP SuccessFactors is currently undergoing scheduled "
    "maintenance. Please try again later.</p></body></html>"
)
_GATEWAY_PAGE = (
    "<!DOCTYPE html><html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"
)


# --------------------------------------------------------------------------- responses


def _enc(value: Any) -> str:
    """JSON text of one value (fast paths for the types rows hold)."""
    kind = type(value)
    if kind is str:
        return _encode_str(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return float.__repr__(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def raw_json(text: str, status: int = 200) -> Response:
    """A response whose JSON text is already built."""
    response = Response(text.encode("utf-8"), status=status)
    response.headers["Content-Type"] = "application/json;charset=utf-8"
    return response


def wants_json() -> bool:
    """JSON when ``$format=json`` or ``Accept: application/json``, else Atom XML (SF's default)."""
    fmt = request.args.get("$format")
    if fmt:
        return fmt.strip().lower() == "json"
    return "application/json" in request.headers.get("Accept", "")


def odata_error_response(error: ODataError) -> Response:
    """The OData v2 error envelope, JSON or XML by content negotiation."""
    if wants_json() or not request.path.startswith(ODATA):
        return json_response(
            {"error": {"code": error.code, "message": {"lang": "en-US", "value": error.message}}},
            error.status,
            error.headers,
        )
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<error xmlns="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">'
        f"<code>{escape(error.code)}</code>"
        f'<message lang="en-US">{escape(error.message)}</message></error>'
    )
    response = Response(body, status=error.status, headers=error.headers)
    response.headers["Content-Type"] = "application/xml;charset=utf-8"
    return response


# --------------------------------------------------------------------------- the server


@dataclass(slots=True)
class _Plan:
    """How to write one entity type for one request (from ``$select``/``$expand``)."""

    etype: EntityType
    type_meta: str
    set_name: str
    props: list[tuple[str, str, int]]
    deferred: list[str]
    expanded: list[tuple[str, NavProperty, _Plan | None]]
    single_key: str | None


@dataclass(slots=True)
class _Cached:
    version: int
    rows: list[dict[str, Any]]


class ODataServer:
    """Serves one tenant's OData v2 API from its EDMX. Created by :func:`create_app`."""

    def __init__(self, tenant: FakeTenant, metadata: Metadata) -> None:
        self.tenant = tenant
        self.metadata = metadata
        self._results: OrderedDict[tuple[Any, ...], _Cached] = OrderedDict()
        self._snapshots: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._set_of_type = {
            type_name: name for name, type_name in reversed(list(metadata.sets.items()))
        }
        self._plans: dict[str, list[tuple[str, int]]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ helpers

    def base(self) -> str:
        """The absolute service root used in ``__next`` and ``__metadata``."""
        root = self.tenant.base_url or request.host_url.rstrip("/")
        return root + ODATA

    def etype(self, entity_set: str) -> EntityType:
        """The type of a set; 404 ``COE_ENTITY_NOT_FOUND`` when the tenant has no such set."""
        etype = self.metadata.type_of_set(entity_set)
        if etype is None:
            raise ODataError(
                404,
                "COE_ENTITY_NOT_FOUND",
                f"[COE0007]invalid entity (or function) name: {entity_set}",
            )
        return etype

    def set_of(self, etype: EntityType) -> str:
        """The entity set that holds ``etype``."""
        return self._set_of_type.get(etype.name, etype.name)

    def key_predicate(self, etype: EntityType, row: Mapping[str, Any]) -> str:
        """``('id')`` or ``(k1='a',k2='b')``."""

        def literal(name: str) -> str:
            prop = etype.properties.get(name)
            value = row.get(name)
            if prop is not None and prop.type in ("Edm.Int64", "Edm.Int32", "Edm.Int16"):
                return f"{value}L" if prop.type == "Edm.Int64" else str(value)
            text = "" if value is None else str(value)
            return "'" + text.replace("'", "''") + "'"

        if len(etype.keys) == 1:
            return f"({literal(etype.keys[0])})"
        return "(" + ",".join(f"{name}={literal(name)}" for name in etype.keys) + ")"

    def uri(self, etype: EntityType, row: Mapping[str, Any], base: str) -> str:
        """Absolute URI of an entity."""
        return f"{base}/{self.set_of(etype)}{self.key_predicate(etype, row)}"

    def _plan(self, etype: EntityType) -> list[tuple[str, int]]:
        plan = self._plans.get(etype.name)
        if plan is None:
            kinds = {"Edm.DateTime": 1, "Edm.DateTimeOffset": 2, "Edm.Int64": 3, "Edm.Decimal": 3}
            plan = [(name, kinds.get(prop.type, 0)) for name, prop in etype.properties.items()]
            self._plans[etype.name] = plan
        return plan

    # ------------------------------------------------------------------ navigation

    def resolve_nav(self, etype: EntityType, nav: NavProperty, row: Mapping[str, Any]) -> Any:
        """The row (1:1) or rows (1:n) behind a navigation property."""
        tenant = self.tenant
        key = (etype.name, nav.name)
        if key == ("User", "manager"):
            manager = row.get("_manager")
            return tenant.user_row(manager) if manager else None
        if key == ("User", "directReports"):
            return tenant.direct_reports(str(row.get("userId")))
        if key == ("SkillProfile", "ratedSkills"):
            return tenant.rated_for(str(row.get("externalCode")))
        if key == ("SkillProfile", "selfReportSkills"):
            return tenant.self_reported_for(str(row.get("externalCode")))
        if key == ("SkillProfile", "externalCodeNav"):
            return tenant.user_row(str(row.get("externalCode")))
        if nav.name == "skillNav":
            code = row.get("skill") or row.get("externalCode")
            return tenant.skill(str(code)) if code else None
        return [] if nav.many else None

    # ------------------------------------------------------------------ serialization

    def plan(
        self, etype: EntityType, select: dict[str, Any] | None, expand: dict[str, Any]
    ) -> _Plan:
        """Compile ``$select``/``$expand`` for ``etype`` once per request."""
        everything = select is None or ALL in select
        props = [
            (name, f",{_enc(name)}:", kind)
            for name, kind in self._plan(etype)
            if everything or name in select  # type: ignore[operator]
        ]
        deferred: list[str] = []
        expanded: list[tuple[str, NavProperty, _Plan | None]] = []
        for name, nav in etype.navs.items():
            if name in expand:
                target_type = self.metadata.types.get(nav.target)
                sub_select = select.get(name) if select is not None else None
                if not isinstance(sub_select, dict) or not sub_select:
                    sub_select = None
                sub_plan = (
                    None
                    if target_type is None
                    else self.plan(target_type, sub_select, expand[name])
                )
                expanded.append((name, nav, sub_plan))
            elif everything or name in select:  # type: ignore[operator]
                deferred.append(name)
        single = None
        if len(etype.keys) == 1:
            key_prop = etype.properties.get(etype.keys[0])
            if key_prop is not None and key_prop.type == "Edm.String":
                single = etype.keys[0]
        return _Plan(
            etype=etype,
            type_meta=f"SFOData.{etype.name}",
            set_name=self.set_of(etype),
            props=props,
            deferred=deferred,
            expanded=expanded,
            single_key=single,
        )

    def serialize(self, plan: _Plan, row: Mapping[str, Any], base: str) -> str:
        """One entity as OData v2 JSON text.

        ``__metadata``, properties, deferred or expanded navigations — built from per-value
        encodings, so a 1000-row page costs a few milliseconds.
        """
        if plan.single_key is not None:
            key = str(row.get(plan.single_key))
            if "'" in key:
                key = key.replace("'", "''")
            uri = f"{base}/{plan.set_name}('{key}')"
        else:
            uri = self.uri(plan.etype, row, base)
        parts = ['{"__metadata":{"uri":', _enc(uri), ',"type":"', plan.type_meta, '"}']
        append = parts.append
        get = row.get
        for name, prefix, kind in plan.props:
            value = get(name)
            if value is None:
                text = "null"
            elif kind == 0:
                text = _enc(value)
            elif kind == 1:
                text = (
                    f'"/Date({value})/"'
                    if type(value) is int
                    else _enc(format_value("Edm.DateTime", value))
                )
            elif kind == 2:
                text = (
                    f'"/Date({value}+0000)/"'
                    if type(value) is int
                    else _enc(format_value("Edm.DateTimeOffset", value))
                )
            else:
                text = _enc(str(value))
            append(prefix)
            append(text)
        for name in plan.deferred:
            append(f',"{name}":{{"__deferred":{{"uri":{_enc(uri + "/" + name)}}}}}')
        for name, nav, sub_plan in plan.expanded:
            target = self.resolve_nav(plan.etype, nav, row)
            if sub_plan is None:
                text = '{"results":[]}' if nav.many else "null"
            elif nav.many:
                text = (
                    '{"results":['
                    + ",".join(self.serialize(sub_plan, item, base) for item in target or ())
                    + "]}"
                )
            else:
                text = "null" if target is None else self.serialize(sub_plan, target, base)
            append(f',"{name}":')
            append(text)
        append("}")
        return "".join(parts)

    def atom_entry(
        self, etype: EntityType, row: Mapping[str, Any], base: str, select: dict[str, Any] | None
    ) -> str:
        """One entity as an Atom ``<entry>`` (the default format when JSON is not asked for)."""
        uri = self.uri(etype, row, base)
        parts = [
            f'<entry><id>{escape(uri)}</id><title type="text"/><author><name/></author>',
            f'<link rel="edit" href={quoteattr(uri)}/>',
            f'<category term="SFOData.{etype.name}" scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"/>',
        ]
        for name in etype.navs:
            parts.append(
                f'<link rel="http://schemas.microsoft.com/ado/2007/08/dataservices/related/{name}" '
                f'type="application/atom+xml;type=entry" title="{name}" '
                f"href={quoteattr(uri + '/' + name)}/>"
            )
        parts.append('<content type="application/xml"><m:properties>')
        for name, prop in etype.properties.items():
            if select is not None and ALL not in select and name not in select:
                continue
            value = row.get(name)
            if value is None:
                parts.append(f'<d:{name} m:null="true"/>')
                continue
            if prop.type in ("Edm.DateTime", "Edm.DateTimeOffset"):
                ms = to_ms(value) or 0
                text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000))
                text += ".000" + ("Z" if prop.type == "Edm.DateTimeOffset" else "")
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(value)
            parts.append(f'<d:{name} m:type="{prop.type}">{escape(text)}</d:{name}>')
        parts.append("</m:properties></content></entry>")
        return "".join(parts)

    def atom_response(
        self, entries: list[str], *, feed: str | None, base: str, next_url: str | None
    ) -> Response:
        """Entries wrapped in an Atom feed (or a single entry document)."""
        ns = (
            'xmlns="http://www.w3.org/2005/Atom" '
            'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" '
            'xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
            f"xml:base={quoteattr(base + '/')}"
        )
        if feed is None:
            body = '<?xml version="1.0" encoding="utf-8"?>' + entries[0].replace(
                "<entry>", f"<entry {ns}>", 1
            )
        else:
            nxt = f'<link rel="next" href={quoteattr(next_url)}/>' if next_url else ""
            body = (
                f'<?xml version="1.0" encoding="utf-8"?><feed {ns}>'
                f'<title type="text">{feed}</title>'
                f"<id>{escape(base + '/' + feed)}</id>{''.join(entries)}{nxt}</feed>"
            )
        response = Response(body)
        response.headers["Content-Type"] = "application/atom+xml;charset=utf-8"
        return response

    # ------------------------------------------------------------------ query options

    def _path_resolver(self, etype: EntityType) -> Callable[[str], ResolvedPath]:
        enforce = self.tenant.enforce_filterable

        def resolve(path: str) -> ResolvedPath:
            segments = path.split("/")
            current = etype
            getters: list[Callable[[Any], Any]] = []
            for segment in segments[:-1]:
                nav = current.navs.get(segment)
                if nav is None:
                    raise bad_request(
                        f"[COE0021]invalid property names: {path}.", "COE_PROPERTY_NOT_FOUND"
                    )
                if nav.many:
                    raise bad_request(
                        f"Filtering on the collection navigation {segment} is not supported."
                    )
                if enforce and not nav.filterable:
                    raise bad_request(
                        f"Property {segment} is not filterable.", "COE_PROPERTY_NOT_FILTERABLE"
                    )
                getters.append(self._nav_getter(current, nav))
                target = self.metadata.types.get(nav.target)
                if target is None:
                    raise bad_request(
                        f"[COE0021]invalid property names: {path}.", "COE_PROPERTY_NOT_FOUND"
                    )
                current = target
            prop = current.properties.get(segments[-1])
            if prop is None:
                raise bad_request(
                    f"[COE0021]invalid property names: {path}.", "COE_PROPERTY_NOT_FOUND"
                )
            if enforce and not prop.filterable:
                raise bad_request(
                    f"Property {path} of entity {current.name} is not filterable.",
                    "COE_PROPERTY_NOT_FILTERABLE",
                )
            name = prop.name

            def getter(row: Mapping[str, Any]) -> Any:
                target: Any = row
                for step in getters:
                    target = step(target)
                    if target is None:
                        return None
                return target.get(name)

            if not getters:

                def getter(row: Mapping[str, Any]) -> Any:
                    return row.get(name)

            return ResolvedPath(getter, prop.type)

        return resolve

    def _nav_getter(self, etype: EntityType, nav: NavProperty) -> Callable[[Any], Any]:
        def step(row: Any) -> Any:
            return self.resolve_nav(etype, nav, row)

        return step

    def check_select_expand(
        self, etype: EntityType, select: dict[str, Any] | None, expand: dict[str, Any]
    ) -> None:
        """400 for unknown properties/navigations in ``$select``/``$expand``."""
        for name, sub in expand.items():
            nav = etype.navs.get(name)
            if nav is None:
                raise bad_request(
                    f"[COE0021]invalid property names: {name}.", "COE_PROPERTY_NOT_FOUND"
                )
            target = self.metadata.types.get(nav.target)
            if target is not None:
                sub_select = select.get(name) if select else None
                self.check_select_expand(
                    target, sub_select if isinstance(sub_select, dict) else None, sub
                )
        for name, sub in (select or {}).items():
            if name == ALL:
                continue
            if name in etype.properties:
                if sub is not None:
                    raise bad_request(
                        f"[COE0021]invalid property names: {name}/….", "COE_PROPERTY_NOT_FOUND"
                    )
                continue
            if name in etype.navs:
                if sub and name not in expand:
                    raise bad_request(
                        f"Only navigations in $expand can be traversed in $select: {name}.",
                        "COE_BAD_REQUEST",
                    )
                continue
            raise bad_request(f"[COE0021]invalid property names: {name}.", "COE_PROPERTY_NOT_FOUND")

    def _sorted(
        self, etype: EntityType, rows: list[dict[str, Any]], orderby: str
    ) -> list[dict[str, Any]]:
        keys: list[tuple[str, bool]] = []
        for part in orderby.split(","):
            tokens = part.split()
            if not tokens:
                continue
            name = tokens[0]
            if name not in etype.properties:
                raise bad_request(
                    f"[COE0021]invalid property names: {name}.", "COE_PROPERTY_NOT_FOUND"
                )
            descending = len(tokens) > 1 and tokens[1].lower() == "desc"
            keys.append((name, descending))
        result = list(rows)
        for name, descending in reversed(keys):
            present = [row for row in result if row.get(name) is not None]
            missing = [row for row in result if row.get(name) is None]
            present.sort(key=operator.itemgetter(name), reverse=descending)
            result = present + missing if not descending else missing + present
        return result

    def results(
        self,
        entity_set: str,
        etype: EntityType,
        rows_provider: Callable[[], list[dict[str, Any]]],
        *,
        filter_text: str | None,
        orderby: str | None,
        cache_key: tuple[Any, ...],
    ) -> list[dict[str, Any]]:
        """The filtered, ordered rows (cached per data version)."""
        predicate = None
        implicit = False
        if filter_text:
            ast = parse_filter(filter_text)
            predicate = compile_filter(ast, self._path_resolver(etype))
            implicit = (
                entity_set == "User"
                and not filter_mentions(ast, "status")
                and not filter_has_or(ast)
            )
        else:
            implicit = entity_set == "User"
        key = (*cache_key, filter_text, orderby, self.tenant.enforce_filterable)
        with self.tenant.lock:
            version = self.tenant.version
            with self._lock:
                cached = self._results.get(key)
                if cached is not None and cached.version == version:
                    self._results.move_to_end(key)
                    return cached.rows
            rows = rows_provider()
            if implicit:
                rows = [row for row in rows if row.get("status") in ACTIVE_STATUSES]
            if predicate is not None:
                rows = [row for row in rows if predicate(row)]
            if orderby:
                rows = self._sorted(etype, rows, orderby)
        with self._lock:
            self._results[key] = _Cached(version, rows)
            while len(self._results) > 32:
                self._results.popitem(last=False)
        return rows

    # ------------------------------------------------------------------ collection GET

    def collection(
        self,
        entity_set: str,
        etype: EntityType,
        rows_provider: Callable[[], list[dict[str, Any]]],
        *,
        cache_key: tuple[Any, ...],
    ) -> Response:
        """A (paged) collection with every query option SuccessFactors supports."""
        args = request.args
        for name in args:
            if name.startswith("$") and name not in _KNOWN_OPTIONS:
                raise bad_request(
                    f"Unsupported system query option {name}.", "COE_UNSUPPORTED_QUERY_OPTION"
                )
        check_effective_dating()
        select = parse_select(args.get("$select"))
        expand = parse_expand(args.get("$expand"))
        self.check_select_expand(etype, select, expand)
        rows = self.results(
            entity_set,
            etype,
            rows_provider,
            filter_text=args.get("$filter"),
            orderby=args.get("$orderby"),
            cache_key=cache_key,
        )
        skip = _int_option("$skip", args.get("$skip"), minimum=0) or 0
        top = _int_option("$top", args.get("$top"), minimum=0)
        effective = rows[skip : skip + top] if top is not None else rows[skip:]
        page_size = _int_option("customPageSize", args.get("customPageSize"), minimum=1)
        if page_size is not None and page_size > MAX_PAGE:
            raise bad_request(
                f"customPageSize must be between 1 and {MAX_PAGE}.", "COE_INVALID_PAGE_SIZE"
            )
        page_size = page_size or MAX_PAGE
        snapshot = args.get("paging", "").lower() == "snapshot" and entity_set not in _MDF_SETS
        token_text = args.get("$skiptoken")
        start = 0
        snapshot_id: str | None = None
        if token_text:
            token = decode_skiptoken(token_text)
            start = max(0, int(token["startRow"]))
            snapshot_id = token.get("snapshotId") if snapshot else None
            if snapshot_id is not None:
                with self._lock:
                    stored = self._snapshots.get(str(snapshot_id))
                if stored is None:
                    raise bad_request(
                        "The snapshot of this paging request has expired.",
                        "COE_SNAPSHOT_BAD_REQUEST",
                    )
                effective = stored
        elif snapshot:
            snapshot_id = uuid.uuid4().hex
            with self._lock:
                self._snapshots[snapshot_id] = list(effective)
                while len(self._snapshots) > 64:
                    self._snapshots.popitem(last=False)
        served_from = start
        if start > 0 and self.tenant.duplicate_rows_across_pages:
            served_from = max(0, start - max(0, self.tenant.duplicate_rows))
        page = effective[served_from : served_from + page_size]
        if snapshot_id is not None:
            page = [row for row in page if self._still_exists(entity_set, row)]
        next_start = served_from + page_size
        base = self.base()
        next_url = None
        if next_start < len(effective):
            payload: dict[str, Any] = {"startRow": next_start, "endRow": next_start + page_size}
            if snapshot_id is not None:
                payload["snapshotId"] = snapshot_id
            next_url = _next_url(base, encode_skiptoken(payload))
        if not wants_json():
            entries = [self.atom_entry(etype, row, base, select) for row in page]
            return self.atom_response(entries, feed=entity_set, base=base, next_url=next_url)
        plan = self.plan(etype, select, expand)
        with self.tenant.lock:
            results = ",".join([self.serialize(plan, row, base) for row in page])
        head = '{"d":{'
        if args.get("$inlinecount", "").lower() == "allpages":
            head += f'"__count":"{len(effective)}",'
        tail = f',"__next":{_enc(next_url)}' if next_url else ""
        return raw_json(f'{head}"results":[{results}]{tail}}}}}')

    def _still_exists(self, entity_set: str, row: Mapping[str, Any]) -> bool:
        if entity_set == "User":
            return self.tenant.user_row(str(row.get("userId"))) is row
        return True

    # ------------------------------------------------------------------ resources

    def lookup(self, entity_set: str, etype: EntityType, key_text: str) -> dict[str, Any] | None:
        """The row addressed by a key predicate."""
        key = parse_key(etype, key_text)
        tenant = self.tenant
        if entity_set == "User":
            return tenant.user_row(key[etype.keys[0]])
        if entity_set == "SkillEntity":
            return tenant.skill(key[etype.keys[0]])
        if entity_set == "SkillProfile":
            return tenant.skill_profile(key[etype.keys[0]])
        if entity_set == "RatedSkillMapping" and set(key) == {
            "SkillProfile_externalCode",
            "externalCode",
        }:
            return tenant.rated_row(key["SkillProfile_externalCode"], key["externalCode"])
        for row in tenant.rows_of(entity_set):
            if all(str(row.get(name)) == value for name, value in key.items()):
                return row
        return None

    def get(self, resource: str) -> Response:
        """Dispatch ``GET /odata/v2/<resource>``."""
        match = _RESOURCE.match(resource)
        if match is None:
            raise ODataError(
                404,
                "COE_ENTITY_NOT_FOUND",
                f"[COE0007]invalid entity (or function) name: {resource}",
            )
        entity_set, key_text, nav_name = match.group("set"), match.group("key"), match.group("nav")
        etype = self.etype(entity_set)
        if key_text is None:
            if nav_name == "$count":
                rows = self.results(
                    entity_set,
                    etype,
                    lambda: self.tenant.rows_of(entity_set),
                    filter_text=request.args.get("$filter"),
                    orderby=None,
                    cache_key=(entity_set,),
                )
                response = Response(str(len(rows)))
                response.headers["Content-Type"] = "text/plain;charset=utf-8"
                return response
            if nav_name == "$metadata":
                return metadata_response(self.metadata)
            if nav_name is not None:
                raise ODataError(
                    404,
                    "COE_ENTITY_NOT_FOUND",
                    f"[COE0007]invalid entity (or function) name: {resource}",
                )
            return self.collection(
                entity_set, etype, lambda: self.tenant.rows_of(entity_set), cache_key=(entity_set,)
            )
        check_effective_dating()
        row = self.lookup(entity_set, etype, key_text)
        if row is None:
            raise ODataError(
                404,
                "COE_RESOURCE_NOT_FOUND",
                f"Entity {entity_set}({key_text}) does not exist or is not visible.",
            )
        if nav_name is None:
            select = parse_select(request.args.get("$select"))
            expand = parse_expand(request.args.get("$expand"))
            self.check_select_expand(etype, select, expand)
            base = self.base()
            if not wants_json():
                return self.atom_response(
                    [self.atom_entry(etype, row, base, select)], feed=None, base=base, next_url=None
                )
            with self.tenant.lock:
                return raw_json(
                    '{"d":' + self.serialize(self.plan(etype, select, expand), row, base) + "}"
                )
        nav = etype.navs.get(nav_name)
        if nav is None:
            raise bad_request(
                f"[COE0021]invalid property names: {nav_name}.", "COE_PROPERTY_NOT_FOUND"
            )
        target_type = self.metadata.types.get(nav.target)
        if target_type is None:
            raise ODataError(
                404,
                "COE_ENTITY_NOT_FOUND",
                f"[COE0007]invalid entity (or function) name: {nav.target}",
            )
        if nav.many:
            target_set = self.set_of(target_type)
            return self.collection(
                target_set,
                target_type,
                lambda: list(self.resolve_nav(etype, nav, row) or ()),
                cache_key=(entity_set, key_text, nav_name),
            )
        target = self.resolve_nav(etype, nav, row)
        if target is None:
            return Response(status=204)
        select = parse_select(request.args.get("$select"))
        expand = parse_expand(request.args.get("$expand"))
        self.check_select_expand(target_type, select, expand)
        base = self.base()
        if not wants_json():
            return self.atom_response(
                [self.atom_entry(target_type, target, base, select)],
                feed=None,
                base=base,
                next_url=None,
            )
        with self.tenant.lock:
            return raw_json(
                '{"d":' + self.serialize(self.plan(target_type, select, expand), target, base) + "}"
            )

    # ------------------------------------------------------------------ upsert

    def upsert(self, principal: str) -> Response:
        """``POST /odata/v2/upsert``: 200 with one result per row, failed rows included."""
        payload = request.get_json(silent=True)
        if payload is None:
            raise bad_request("The request body is not valid JSON.", "COE_BAD_REQUEST")
        rows = payload if isinstance(payload, list) else [payload]
        if not rows or not all(isinstance(row, dict) for row in rows):
            raise bad_request(
                "The upsert payload must be an entity or a list of entities.", "COE_BAD_REQUEST"
            )
        targets: list[tuple[str, EntityType]] = []
        for row in rows:
            entity_set = self._upsert_target(row)
            etype = self.metadata.type_of_set(entity_set)
            if etype is None:
                raise bad_request(
                    f"[COE0007]invalid entity (or function) name: {entity_set}",
                    "COE_ENTITY_NOT_FOUND",
                )
            if (
                not self.metadata.set_upsertable.get(entity_set, True)
                and entity_set != "CompetencyRating"
            ):
                raise bad_request(
                    f"Entity {entity_set} is not upsertable.", "COE_ENTITY_NOT_UPSERTABLE"
                )
            targets.append((entity_set, etype))
        results = [
            self._upsert_row(index, entity_set, etype, row, principal)
            for index, (row, (entity_set, etype)) in enumerate(zip(rows, targets, strict=True))
        ]
        return json_response({"d": results})

    def _upsert_target(self, row: Mapping[str, Any]) -> str:
        meta = row.get("__metadata")
        if not isinstance(meta, Mapping):
            raise bad_request(
                "Every upsert entity needs __metadata with uri and type.", "COE_BAD_REQUEST"
            )
        type_name = meta.get("type")
        if isinstance(type_name, str) and type_name:
            name = type_name.rsplit(".", 1)[-1]
            return self._set_of_type.get(name, name)
        uri = meta.get("uri")
        if isinstance(uri, str) and uri:
            tail = uri.split(ODATA + "/", 1)[-1].lstrip("/")
            return re.split(r"[(/?]", tail, maxsplit=1)[0]
        raise bad_request(
            "Every upsert entity needs __metadata with uri and type.", "COE_BAD_REQUEST"
        )

    def _upsert_row(
        self, index: int, entity_set: str, etype: EntityType, row: Mapping[str, Any], principal: str
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        meta = row.get("__metadata") or {}
        uri = meta.get("uri") if isinstance(meta, Mapping) else None
        if isinstance(uri, str) and "(" in uri and uri.rstrip().endswith(")"):
            with contextlib.suppress(ODataError):
                inner = unquote(uri[uri.index("(") + 1 : uri.rstrip().rindex(")")])
                values.update(parse_key(etype, inner))
        links: dict[str, str] = {}
        problems: list[tuple[str, str, int]] = []
        for name, value in row.items():
            if name == "__metadata":
                continue
            if name in etype.navs:
                link = _link_key(value)
                if link is None:
                    problems.append(
                        (
                            "COE_BAD_REQUEST",
                            f"Deep upsert of {name} is not supported; send a link",
                            400,
                        )
                    )
                else:
                    links[name] = link
                continue
            prop = etype.properties.get(name)
            if prop is None:
                problems.append(
                    ("COE_PROPERTY_NOT_FOUND", f"[COE0021]invalid property names: {name}.", 400)
                )
                continue
            if value is not None:
                if prop.type == "Edm.String" and not isinstance(value, str):
                    problems.append(
                        (
                            "COE_INVALID_PROPERTY_VALUE",
                            f"Invalid value for property {name}: expected Edm.String",
                            400,
                        )
                    )
                    continue
                if prop.type in ("Edm.DateTime", "Edm.DateTimeOffset"):
                    try:
                        value = to_ms(value)
                    except ValueError:
                        problems.append(
                            (
                                "COE_INVALID_PROPERTY_VALUE",
                                f"Invalid value for property {name}: not a date",
                                400,
                            )
                        )
                        continue
                if prop.max_length and isinstance(value, str) and len(value) > prop.max_length:
                    problems.append(
                        (
                            "COE_PROPERTY_EXCEED_MAX_LENGTH",
                            f"The value of property {name} exceeds the maximum length "
                            f"of {prop.max_length}",
                            400,
                        )
                    )
                    continue
            if not prop.upsertable and name not in etype.keys:
                continue  # read-only properties are ignored, as SuccessFactors does
            values[name] = value
        if entity_set == "RatedSkillMapping" and "skillNav" in links:
            values.setdefault("skill", links["skillNav"])
        if (
            entity_set == "RatedSkillMapping"
            and not values.get("externalCode")
            and values.get("skill")
        ):
            existing = self.tenant.find_rated_by_skill(
                str(values.get("SkillProfile_externalCode")), str(values["skill"])
            )
            values["externalCode"] = (
                existing["externalCode"] if existing else self.tenant.next_code()
            )
        key_string = ",".join(f"{entity_set}/{name}={values.get(name, '')}" for name in etype.keys)
        result: dict[str, Any] = {
            "key": key_string,
            "status": "OK",
            "editStatus": "UPSERTED",
            "message": None,
            "index": index,
            "httpCode": 204,
            "inlineResults": None,
        }

        def fail(message: str, http_code: int) -> dict[str, Any]:
            result.update(
                {
                    "status": "ERROR",
                    "editStatus": None,
                    "message": f"{message} with the index {index}",
                    "httpCode": http_code,
                }
            )
            return result

        user_value = values.get("userId") or values.get("SkillProfile_externalCode")
        injected = self.tenant.faults.take_row_error(
            key_string, [values.get(name) for name in etype.keys] + [user_value]
        )
        if injected is not None:
            return fail(injected.message, injected.http_code)
        if problems:
            _code, message, status = problems[0]
            return fail(message, status)
        if entity_set == "CompetencyRating":
            return fail("CompetencyRating source is not allowed to update", 500)
        missing_keys = [name for name in etype.keys if values.get(name) in (None, "")]
        if missing_keys:
            return fail(f"Required property {missing_keys[0]} is missing", 400)
        return self._apply_upsert(entity_set, etype, values, links, principal, fail, result)

    def _apply_upsert(
        self,
        entity_set: str,
        etype: EntityType,
        values: dict[str, Any],
        links: dict[str, str],
        principal: str,
        fail: Callable[[str, int], dict[str, Any]],
        result: dict[str, Any],
    ) -> dict[str, Any]:
        tenant = self.tenant
        with tenant.lock:
            exists = self.lookup(entity_set, etype, _key_text(etype, values)) is not None
            if not exists:
                missing = [
                    name
                    for name, prop in etype.properties.items()
                    if prop.required and values.get(name) in (None, "") and name not in etype.keys
                ]
                if missing:
                    return fail(f"Required property {missing[0]} is missing", 400)
            if entity_set == "User":
                if "manager" in links:
                    values["_manager"] = links["manager"]
                user_id = str(values.pop("userId"))
                if exists:
                    tenant.update_user(user_id, **values)
                else:
                    tenant.add_user({"userId": user_id, **values})
                return result
            if entity_set in ("RatedSkillMapping", "SelfReportSkillMapping"):
                profile = str(values["SkillProfile_externalCode"])
                if tenant.user_row(profile) is None:
                    return fail(
                        f"Invalid SkillProfile_externalCode: user {profile} does not exist", 500
                    )
                skill = values.get("skill")
                if not exists and not skill:
                    return fail("Required property skill is missing", 400)
                if skill and tenant.skill(str(skill)) is None:
                    return fail(
                        f"Invalid value for property skill: SkillEntity {skill} does not exist", 500
                    )
            if entity_set == "SkillProfile":
                if tenant.user_row(str(values["externalCode"])) is None:
                    return fail(
                        f"Invalid externalCode: user {values['externalCode']} does not exist", 500
                    )
                return result
            key = tuple(str(values[name]) for name in etype.keys)
            if entity_set not in ("RatedSkillMapping", "SelfReportSkillMapping", "SkillEntity"):
                return fail(f"Upsert of {entity_set} is not supported by this tenant", 500)
            tenant.store_mdf(entity_set, key, values, user=principal)
            return result


# --------------------------------------------------------------------------- module helpers


def _int_option(name: str, value: str | None, *, minimum: int) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError as exc:
        raise bad_request(f"Invalid value for {name}: {value}") from exc
    if number < minimum:
        raise bad_request(f"Invalid value for {name}: {value}")
    return number


def _next_url(base: str, token: str) -> str:
    """``__next``: the same request with ``$skiptoken`` replaced (absolute, as SuccessFactors)."""
    query = request.query_string.decode("utf-8", "replace")
    kept = [
        part for part in query.split("&") if part and unquote(part.split("=", 1)[0]) != "$skiptoken"
    ]
    kept.append(f"$skiptoken={token}")
    root = base[: -len(ODATA)] if base.endswith(ODATA) else base
    return f"{root}{request.path}?{'&'.join(kept)}"


def check_effective_dating() -> None:
    """``asOfDate`` or ``fromDate``/``toDate`` (not both); dates ``yyyy-MM-dd``."""
    args = request.args
    as_of, from_date, to_date = args.get("asOfDate"), args.get("fromDate"), args.get("toDate")
    if as_of and (from_date or to_date):
        raise bad_request(
            "asOfDate cannot be used together with fromDate or toDate.",
            "COE_INVALID_EFFECTIVE_DATING",
        )
    for name, value in (("asOfDate", as_of), ("fromDate", from_date), ("toDate", to_date)):
        if value is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise bad_request(
                f"Invalid value for {name}: {value}; expected yyyy-MM-dd.",
                "COE_INVALID_EFFECTIVE_DATING",
            )


def _split_key(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


def _key_literal(text: str) -> str:
    raw = text.strip()
    if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
        return raw[1:-1].replace("''", "'")
    if raw[:9].lower() == "datetime'" and raw.endswith("'"):
        return str(parse_datetime_literal(raw[9:-1]))
    return raw.rstrip("Ll")


def parse_key(etype: EntityType, text: str) -> dict[str, str]:
    """A key predicate (``'id'``, ``123L``, ``k1='a',k2='b'``) as ``{key: value}``.

    Raises:
        ODataError: 400 when it does not name the type's key properties.
    """
    parts = _split_key(text)
    if len(parts) == 1 and "=" not in parts[0].split("'", 1)[0] and len(etype.keys) == 1:
        return {etype.keys[0]: _key_literal(parts[0])}
    key: dict[str, str] = {}
    for part in parts:
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in etype.keys:
            raise bad_request(
                f"Invalid key predicate for {etype.name}: ({text})", "COE_INVALID_KEY"
            )
        key[name.strip()] = _key_literal(value)
    if set(key) != set(etype.keys):
        raise bad_request(f"Invalid key predicate for {etype.name}: ({text})", "COE_INVALID_KEY")
    return key


def _key_text(etype: EntityType, values: Mapping[str, Any]) -> str:
    return ",".join(
        f"{name}='{str(values.get(name, '')).replace(chr(39), chr(39) * 2)}'" for name in etype.keys
    )


def _link_key(value: Any) -> str | None:
    """``{"__metadata": {"uri": "User('x')"}}`` -> ``x``."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        meta = value.get("__metadata")
        uri = meta.get("uri") if isinstance(meta, Mapping) else None
        if isinstance(uri, str) and "(" in uri:
            inner = uri[uri.index("(") + 1 : uri.rindex(")")]
            if "=" in inner.split("'", 1)[0]:
                inner = inner.split("=", 1)[1]
            return _key_literal(inner)
    return None


def metadata_response(metadata: Metadata) -> Response:
    """The EDMX document."""
    response = Response(metadata.raw)
    response.headers["Content-Type"] = "application/xml;charset=utf-8"
    return response


# --------------------------------------------------------------------------- auth


def authenticate_odata(tenant: FakeTenant) -> str:
    """The user behind the ``Authorization`` header of an OData call.

    Raises:
        ODataError: 401 (no/invalid/expired credentials) or 403 ``LGN0010`` (basic auth off).
    """
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and credentials.strip():
        token = tenant.token(credentials.strip())
        if token is None or token.kind != "platform":
            raise ODataError(
                401,
                "UNAUTHORIZED",
                "Authentication failed: invalid access token.",
                headers=_challenge(),
            )
        if tenant.now() >= token.expires_at:
            raise ODataError(
                401,
                "UNAUTHORIZED",
                "Authentication failed: The token has expired.",
                headers=_challenge(),
            )
        return token.user_id
    if scheme == "basic" and credentials.strip():
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ODataError(
                401, "UNAUTHORIZED", "Authentication failed.", headers=_challenge()
            ) from exc
        login, _, password = decoded.partition(":")
        user_id, _, company = login.rpartition("@")
        if not tenant.basic_auth_enabled:
            raise ODataError(
                403,
                "LGN0010",
                f"[LGN0010]Basic Authentication is disabled for company {tenant.company_id} "
                f"or your IP {request.remote_addr} is not authorized to access OData API. "
                "To enable Basic Authentication, grant the permission to your role at Manage "
                "Integration Tools Manage OData API Basic Authentication. To authorize your IP "
                "address for OData API access, go to API Center OData API IP Whitelisting.",
            )
        if (
            company != tenant.company_id
            or not user_id
            or not tenant.check_password(user_id, password)
        ):
            raise ODataError(
                401,
                "LGN0015",
                "[LGN0015]Authentication failed. You have entered an incorrect username or "
                "password (status code = 4).",
                headers=_challenge(),
            )
        return user_id
    raise ODataError(
        401, "UNAUTHORIZED", "Authentication failed: no credentials.", headers=_challenge()
    )


def _challenge() -> dict[str, str]:
    return {"WWW-Authenticate": 'Bearer realm="SuccessFactors", Basic realm="SuccessFactors"'}


# --------------------------------------------------------------------------- faults


def _fault_response(rule: Any, tenant: FakeTenant) -> Response:
    status = int(rule.status)
    headers: dict[str, str] = {}
    if rule.retry_after is not None:
        headers["Retry-After"] = str(rule.retry_after)
    if rule.body is not None:
        if isinstance(rule.body, bytes | str):
            response = Response(rule.body, status=status, headers=headers)
            response.headers["Content-Type"] = rule.content_type or "text/plain;charset=utf-8"
            return response
        response = json_response(rule.body, status, headers)
        if rule.content_type:
            response.headers["Content-Type"] = rule.content_type
        return response
    learning = request.path.startswith("/learning/")
    if status == 503 or status in (502, 504):
        page = _MAINTENANCE_PAGE if status == 503 else _GATEWAY_PAGE.format(status=status)
        response = Response(page, status=status, headers=headers)
        response.headers["Content-Type"] = "text/html;charset=utf-8"
        return response
    if status == 429:
        message = "API calling limit exceeded, Try later"
        code = "429" if learning else "COE_TOO_MANY_REQUESTS"
    elif getattr(rule, "kind", "") == "metadata_generating":
        message = "OData metadata is being generated for the company. Please try again later."
        code = "COE_GENERAL_SERVER_FAILURE"
    elif status == 500:
        message = "[COE0019]Internal server error."
        code = "COE_GENERAL_SERVER_FAILURE"
    elif status == 401:
        message = "Authentication failed."
        code = "UNAUTHORIZED"
    else:
        message = f"Injected fault {status}."
        code = f"HTTP_{status}"
    if learning:
        return json_response({"error": {"code": code, "message": message}}, status, headers)
    return json_response(
        {"error": {"code": code, "message": {"lang": "en-US", "value": message}}}, status, headers
    )


# --------------------------------------------------------------------------- factory


def create_app(tenant: FakeTenant, *, edmx: str | bytes | Path | None = None) -> Flask:
    """Build the fake's Flask app for ``tenant``.

    Args:
        tenant: the company served.
        edmx: the EDMX to serve and honour (path, XML text/bytes); ``None`` for the bundled
            default (PLTUserManagement-like ``User`` + ECSkillsManagement types).

    Returns:
        A Flask app; ``app.extensions["successfactors_fake"]`` is the :class:`ODataServer`.
    """
    app = Flask("fakes.successfactors")
    app.config["JSON_SORT_KEYS"] = False
    server = ODataServer(tenant, load_metadata(edmx))
    app.extensions["successfactors_fake"] = server

    @app.before_request
    def _before() -> Response | None:
        tenant.record_request(
            request.method, request.path, request.query_string.decode("utf-8", "replace")
        )
        g.malformed = False
        if request.path.startswith("/_fake"):
            return None
        rule = tenant.faults.take(request.method, request.path)
        if rule is None:
            return None
        if rule.delay:
            time.sleep(float(rule.delay))
        if rule.status is not None:
            return _fault_response(rule, tenant)
        g.malformed = bool(rule.malformed)
        return None

    @app.after_request
    def _after(response: Response) -> Response:
        if getattr(g, "malformed", False):
            data = response.get_data()
            response.set_data(data[: max(1, len(data) // 2)])
        if request.path.startswith(ODATA):
            if request.headers.get("X-CSRF-Token", "").lower() == "fetch":
                response.headers["X-CSRF-Token"] = uuid.uuid4().hex
            if "JSESSIONID" not in request.cookies:
                response.set_cookie("JSESSIONID", uuid.uuid4().hex, httponly=True, path="/")
        return response

    @app.errorhandler(ODataError)
    def _odata_error(error: ODataError) -> Response:
        return odata_error_response(error)

    @app.errorhandler(TokenError)
    def _token_error(error: TokenError) -> Response:
        return json_response(error.body(), error.status)

    @app.get(f"{ODATA}/$metadata")
    def odata_metadata() -> Response:
        authenticate_odata(tenant)
        return metadata_response(server.metadata)

    @app.post(f"{ODATA}/upsert")
    def odata_upsert() -> Response:
        principal = authenticate_odata(tenant)
        return server.upsert(principal)

    @app.get(f"{ODATA}/<path:resource>")
    def odata_get(resource: str) -> Response:
        authenticate_odata(tenant)
        return server.get(resource)

    @app.route(f"{ODATA}/<path:resource>", methods=["POST", "PUT", "PATCH", "MERGE", "DELETE"])
    def odata_write(resource: str) -> Response:
        authenticate_odata(tenant)
        raise ODataError(
            405,
            "COE_METHOD_NOT_ALLOWED",
            f"{request.method} on {resource} is not supported by the fake; use upsert.",
        )

    @app.post("/oauth/token")
    def oauth_token() -> Response:
        form = request.form
        verified = verify_assertion(
            tenant,
            client_id=form.get("client_id"),
            company_id=form.get("company_id"),
            grant_type=form.get("grant_type"),
            assertion=form.get("assertion"),
        )
        token = tenant.issue_token(
            kind="platform", client_id=verified.client_id, user_id=verified.user_id
        )
        return json_response(
            {
                "access_token": token.value,
                "token_type": "Bearer",
                "expires_in": tenant.token_lifetime,
            }
        )

    @app.get("/oauth/validate")
    def oauth_validate() -> Response:
        user = authenticate_odata(tenant)
        return json_response({"valid": True, "user_id": user, "company_id": tenant.company_id})

    register_learning(app, tenant)
    register_admin(app, tenant)
    return app
