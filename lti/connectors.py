"""The connector registry: which HRIS/LMS sources this deployment can sync from.

``CONNECTORS`` in the config maps a connection kind to the dotted path of its factory (a
class or callable taking a :class:`plugin.ports.ConnectionConfig` and returning a
:class:`plugin.ports.PeopleSource`)::

    TANDEM_CONNECTORS='{"successfactors": "mycompany.sf:PatchedConnector"}'

The built-in ``successfactors`` connector is always registered unless ``CONNECTORS`` maps
it to ``null``. Factories are imported lazily, on first use, so building the app imports
no connector and does no I/O (the web layer reaches ``connectors`` only through dotted
paths; import-linter checks it). The registry lives in ``app.extensions["tandem.connectors"]``.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, current_app
from sqlalchemy.orm import Session
from werkzeug.utils import ImportStringError

from lti.registry import LazyImport, dotted_paths
from lti.secrets import get_secret_box
from lti.sinks import get_sink_services
from plugin.errors import ValidationError
from plugin.models import Connection
from plugin.ports import ConnectionConfig, ConnectorFactory, ConnectorRegistry, PeopleSource
from plugin.services import connections

__all__ = [
    "BUILTIN_CONNECTORS",
    "EXTENSION",
    "LazyConnectorFactory",
    "build_connector_registry",
    "build_source",
    "get_connectors",
]

#: Connectors every deployment has, unless the config maps them to ``None``.
BUILTIN_CONNECTORS: Mapping[str, str] = {
    "successfactors": "connectors.successfactors:SuccessFactorsConnector",
}
#: Where :func:`build_connector_registry`'s result is kept on the app.
EXTENSION = "tandem.connectors"


class LazyConnectorFactory:
    """A connector factory imported from its dotted path on first use."""

    def __init__(self, kind: str, dotted: str) -> None:
        """Remember where the factory is; import nothing yet.

        Args:
            kind: The connection kind it serves (``successfactors`` …).
            dotted: ``package.module:Factory``.
        """
        self.kind = kind
        self.dotted = dotted
        self._import = LazyImport(dotted, on_error=self._import_error)

    def _import_error(self, exc: ImportStringError) -> Exception:
        return ValidationError(
            f"connector {self.kind!r} is configured as {self.dotted!r}, which "
            f"cannot be imported ({type(exc.exception).__name__}); install it or "
            "fix TANDEM_CONNECTORS",
            field="kind",
        )

    def load(self) -> ConnectorFactory:
        """Import the factory.

        Raises:
            ValidationError: It cannot be imported (a missing package or a typo).
        """
        factory: ConnectorFactory = self._import.load()
        return factory

    def __call__(self, config: ConnectionConfig) -> PeopleSource:
        """Build the source of one connection (no I/O)."""
        return self.load()(config)

    def __repr__(self) -> str:
        """``LazyConnectorFactory('successfactors', 'connectors.successfactors:…')``."""
        return f"LazyConnectorFactory({self.kind!r}, {self.dotted!r})"


def build_connector_registry(app: Flask) -> dict[str, ConnectorFactory]:
    """The registered connectors from ``app.config["CONNECTORS"]`` plus the built-ins.

    Raises:
        RuntimeError: ``CONNECTORS`` is not a mapping of kinds to dotted paths.
    """
    paths = dotted_paths(
        app.config.get("CONNECTORS"),
        BUILTIN_CONNECTORS,
        setting="TANDEM_CONNECTORS",
        key="kind",
        noun="connector",
        name_label="connector kind",
    )
    registry: dict[str, ConnectorFactory] = {}
    for kind, dotted in paths.items():
        registry[kind] = LazyConnectorFactory(kind, dotted)
    return registry


def get_connectors(app: Flask | None = None) -> ConnectorRegistry:
    """The app's connector registry (built by ``create_app`` or on first use)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    registry: ConnectorRegistry | None = app.extensions.get(EXTENSION)
    if registry is None:
        registry = app.extensions[EXTENSION] = build_connector_registry(app)
    return registry


def build_source(app: Flask, session: Session, connection: Connection) -> PeopleSource:
    """The source of one connection: its config decrypted, built by the registered connector.

    No I/O beyond decrypting the credentials: the connector's constructor only checks the
    settings (``check()`` and the iterators talk to the system).

    Raises:
        ValidationError: No connector is registered for the connection's kind, it cannot
            be imported, or the connection's settings cannot work.
        SecretError: The credentials cannot be decrypted (``TANDEM_SECRET_KEY`` changed).
    """
    registry = get_connectors(app)
    kind = str(getattr(connection.kind, "value", connection.kind))
    factory = registry.get(kind)
    if factory is None:
        registered = ", ".join(sorted(registry)) or "none"
        raise ValidationError(
            f"no connector for {kind!r} is registered in this deployment; registered: "
            f"{registered} (TANDEM_CONNECTORS)",
            field="kind",
        )
    config = connections.connection_config(
        session,
        box=get_secret_box(app),
        connection=connection,
        services=get_sink_services(app),
    )
    return factory(config)
