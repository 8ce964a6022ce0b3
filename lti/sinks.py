"""The sink registry: which write-back sinks this deployment can deliver through.

``SINKS`` in the config maps a sink name to the dotted path of its factory (a class or
callable taking a :class:`plugin.ports.TargetConfig`)::

    TANDEM_SINKS='{"recording": "tests.fakes:RecordingSink"}'

The built-in sinks — ``journal`` (a local JSON-lines file), ``lti_ags`` (the LMS
gradebook through LTI AGS) and ``successfactors`` (SuccessFactors Learning and skills,
through the target's connection) — are always registered unless ``SINKS`` maps them to
``null``.
Factories are imported lazily, on first use, so building the app imports no connector and
does no I/O; relative file paths of file-based sinks resolve against the app's instance
folder, and every sink gets the app's :class:`plugin.ports.SinkServices` (new database
sessions, the secret box) in its :class:`~plugin.ports.TargetConfig`. The registry lives in
``app.extensions["tandem.sinks"]``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace

from flask import Flask, current_app
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.utils import ImportStringError

from lti.db import get_engine
from lti.registry import LazyImport, dotted_paths
from lti.secrets import get_secret_box
from plugin.ports import (
    Sink,
    SinkConfigError,
    SinkFactory,
    SinkRegistry,
    SinkServices,
    TargetConfig,
)

__all__ = [
    "BUILTIN_SINKS",
    "EXTENSION",
    "SERVICES_EXTENSION",
    "LazySinkFactory",
    "build_sink_registry",
    "get_sink_services",
    "get_sinks",
]

#: Sinks every deployment has, unless the config maps them to ``None``.
BUILTIN_SINKS: Mapping[str, str] = {
    "journal": "connectors.journal:JournalSink",
    "lti_ags": "connectors.lti_ags:AgsSink",
    "successfactors": "connectors.successfactors:SuccessFactorsSink",
}
#: Where :func:`build_sink_registry`'s result is kept on the app.
EXTENSION = "tandem.sinks"
#: Where :func:`get_sink_services`'s result is kept on the app.
SERVICES_EXTENSION = "tandem.sink_services"


class _AppSessions:
    """New sessions of the app's database; the engine is made on the first call, not before."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._maker: sessionmaker[Session] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Session:
        if self._maker is None:
            with self._lock:
                if self._maker is None:
                    self._maker = sessionmaker(bind=get_engine(self._app), expire_on_commit=False)
        return self._maker()


def get_sink_services(app: Flask | None = None) -> SinkServices:
    """What sinks that need the database get: new sessions and the secret box (no I/O)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    services: SinkServices | None = app.extensions.get(SERVICES_EXTENSION)
    if services is None:
        services = SinkServices(session_factory=_AppSessions(app), secret_box=get_secret_box(app))
        app.extensions[SERVICES_EXTENSION] = services
    return services


class LazySinkFactory:
    """A sink factory imported from its dotted path on first use."""

    def __init__(
        self,
        name: str,
        dotted: str,
        *,
        data_dir: Callable[[], str | None] | None = None,
        services: Callable[[], SinkServices] | None = None,
    ) -> None:
        """Remember where the factory is; import nothing yet.

        Args:
            name: The sink's registered name.
            dotted: ``package.module:Factory``.
            data_dir: Returns where relative file paths resolve (the app's instance folder,
                read when a sink is built so a changed instance path is honoured).
            services: Returns the database access lent to sinks (the app's).
        """
        self.name = name
        self.dotted = dotted
        self.data_dir = data_dir
        self.services = services
        self._import = LazyImport(dotted, on_error=self._import_error)

    def _import_error(self, exc: ImportStringError) -> Exception:
        return SinkConfigError(
            f"sink {self.name!r} is configured as {self.dotted!r}, which cannot "
            f"be imported ({type(exc.exception).__name__}); install it or fix "
            "TANDEM_SINKS, then retry the message",
            field="sink",
        )

    def load(self) -> SinkFactory:
        """Import the factory.

        Raises:
            SinkConfigError: It cannot be imported (a missing package or a typo).
        """
        factory: SinkFactory = self._import.load()
        return factory

    def __call__(self, config: TargetConfig) -> Sink:
        """Build the sink of one target, lending it the app's instance folder and database."""
        factory = self.load()
        if config.data_dir is None and self.data_dir is not None:
            config = replace(config, data_dir=self.data_dir())
        if config.services is None and self.services is not None:
            config = replace(config, services=self.services())
        return factory(config)

    def __repr__(self) -> str:
        """``LazySinkFactory('journal', 'connectors.journal:JournalSink')``."""
        return f"LazySinkFactory({self.name!r}, {self.dotted!r})"


def build_sink_registry(app: Flask) -> dict[str, SinkFactory]:
    """The registered sinks from ``app.config["SINKS"]`` plus the built-ins.

    Raises:
        RuntimeError: ``SINKS`` is not a mapping of sink names to dotted paths.
    """
    paths = dotted_paths(
        app.config.get("SINKS"),
        BUILTIN_SINKS,
        setting="TANDEM_SINKS",
        key="name",
        noun="sink",
        name_label="sink name",
    )
    registry: dict[str, SinkFactory] = {}
    for name, dotted in paths.items():
        registry[name] = LazySinkFactory(
            name,
            dotted,
            data_dir=lambda: app.instance_path,
            services=lambda: get_sink_services(app),
        )
    return registry


def get_sinks(app: Flask | None = None) -> SinkRegistry:
    """The app's sink registry (built by ``create_app``)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    registry: SinkRegistry | None = app.extensions.get(EXTENSION)
    if registry is None:
        registry = app.extensions[EXTENSION] = build_sink_registry(app)
    return registry
