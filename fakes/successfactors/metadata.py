"""Parse an OData v2 EDMX (SuccessFactors flavour) into what the fake needs to serve it.

SuccessFactors annotates properties with ``sap:filterable``, ``sap:upsertable``,
``sap:required``, ``sap:label``, ``sap:picklist`` … in *two* namespaces (the container
schema uses ``http://www.sap.com/Protocols/SAPData``, the type schema
``http://www.successfactors.com/edm/sap``); both are read. Navigation multiplicity comes
from the ``Association`` ends, as in the public PLTUserManagement EDMX.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

__all__ = [
    "DEFAULT_EDMX",
    "EntityType",
    "Metadata",
    "NavProperty",
    "Property",
    "load_metadata",
]

_SAP_NAMESPACES = ("http://www.sap.com/Protocols/SAPData", "http://www.successfactors.com/edm/sap")


def _default_edmx() -> bytes:
    return (Path(__file__).parent / "edmx" / "default.xml").read_bytes()


#: The bundled EDMX (User, SkillEntity, SkillProfile, RatedSkillMapping,
#: SelfReportSkillMapping, CompetencyRating).
DEFAULT_EDMX: bytes = _default_edmx()


@dataclass(frozen=True, slots=True)
class Property:
    """One ``<Property>`` of an entity type."""

    name: str
    type: str
    nullable: bool = True
    required: bool = False
    filterable: bool = True
    upsertable: bool = True
    sortable: bool = True
    label: str | None = None
    max_length: int | None = None
    picklist: str | None = None


@dataclass(frozen=True, slots=True)
class NavProperty:
    """One ``<NavigationProperty>``: target type and whether it is a collection."""

    name: str
    target: str
    many: bool
    filterable: bool = True
    required: bool = False


@dataclass(slots=True)
class EntityType:
    """An entity type with its key, properties and navigation properties."""

    name: str
    keys: tuple[str, ...]
    properties: dict[str, Property] = field(default_factory=dict)
    navs: dict[str, NavProperty] = field(default_factory=dict)


@dataclass(slots=True)
class Metadata:
    """A parsed EDMX: entity sets, their types, and the raw document to serve."""

    raw: bytes
    types: dict[str, EntityType]
    #: entity set name -> entity type name
    sets: dict[str, str]
    #: entity set name -> sap:upsertable of the set
    set_upsertable: dict[str, bool]

    def type_of_set(self, entity_set: str) -> EntityType | None:
        """The entity type behind ``entity_set``, or ``None`` when the tenant has no such set."""
        type_name = self.sets.get(entity_set)
        return self.types.get(type_name) if type_name else None


def _sap(el: etree._Element, name: str) -> str | None:
    for ns in _SAP_NAMESPACES:
        value = el.get(f"{{{ns}}}{name}")
        if value is not None:
            return str(value)
    return None


def _flag(el: etree._Element, name: str, default: bool) -> bool:
    value = _sap(el, name)
    if value is None:
        return default
    return value.strip().lower() == "true"


def _local(tag: object) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1]


def _strip_ns(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1]


def load_metadata(source: str | bytes | Path | None = None) -> Metadata:
    """Parse an EDMX given as a path, XML text/bytes, or ``None`` for the bundled default.

    Raises:
        ValueError: the document is not an EDMX with at least one entity type.
    """
    if source is None:
        raw = DEFAULT_EDMX
    elif isinstance(source, Path):
        raw = source.read_bytes()
    elif isinstance(source, bytes):
        raw = source
    elif source.lstrip().startswith("<"):
        raw = source.encode("utf-8")
    else:
        raw = Path(source).read_bytes()
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(raw, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not an EDMX document: {exc}") from exc

    associations: dict[str, dict[str, tuple[str, str]]] = {}
    types: dict[str, EntityType] = {}
    sets: dict[str, str] = {}
    set_upsertable: dict[str, bool] = {}
    nav_specs: list[tuple[EntityType, etree._Element]] = []

    for el in root.iter():
        tag = _local(el.tag)
        if tag == "Association":
            ends: dict[str, tuple[str, str]] = {}
            for end in el:
                if _local(end.tag) == "End":
                    ends[end.get("Role", "")] = (
                        _strip_ns(end.get("Type", "")),
                        end.get("Multiplicity", "1"),
                    )
            associations[el.get("Name", "")] = ends
        elif tag == "EntitySet":
            name = el.get("Name", "")
            sets[name] = _strip_ns(el.get("EntityType", ""))
            set_upsertable[name] = _flag(el, "upsertable", True)
        elif tag == "EntityType":
            keys = tuple(
                ref.get("Name", "")
                for key in el
                if _local(key.tag) == "Key"
                for ref in key
                if _local(ref.tag) == "PropertyRef"
            )
            entity = EntityType(name=el.get("Name", ""), keys=keys)
            for child in el:
                ctag = _local(child.tag)
                if ctag == "Property":
                    max_length = child.get("MaxLength")
                    entity.properties[child.get("Name", "")] = Property(
                        name=child.get("Name", ""),
                        type=child.get("Type", "Edm.String"),
                        nullable=child.get("Nullable", "true").lower() != "false",
                        required=_flag(child, "required", False),
                        filterable=_flag(child, "filterable", True),
                        upsertable=_flag(child, "upsertable", True),
                        sortable=_flag(child, "sortable", True),
                        label=_sap(child, "label"),
                        max_length=int(max_length) if max_length and max_length.isdigit() else None,
                        picklist=_sap(child, "picklist"),
                    )
                elif ctag == "NavigationProperty":
                    nav_specs.append((entity, child))
            types[entity.name] = entity

    for entity, el in nav_specs:
        ends = associations.get(_strip_ns(el.get("Relationship", "")), {})
        target, multiplicity = ends.get(el.get("ToRole", ""), (entity.name, "0..1"))
        name = el.get("Name", "")
        entity.navs[name] = NavProperty(
            name=name,
            target=target,
            many=multiplicity == "*",
            filterable=_flag(el, "filterable", True),
            required=_flag(el, "required", False),
        )

    if not types:
        raise ValueError("not an EDMX document: no EntityType found")
    if not sets:
        sets = {name: name for name in types}
        set_upsertable = dict.fromkeys(types, True)
    return Metadata(raw=raw, types=types, sets=sets, set_upsertable=set_upsertable)
