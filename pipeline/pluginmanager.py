"""Building the plugin manager and the registries the discovery hooks fill."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .backend import Backend
from .errors import PluginError
from .models import Capabilities
from .normalize import Normalizer

ENTRY_POINT_GROUP = "voxline"


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, remembering the distribution version of each entry-point plugin."""

    def __init__(self) -> None:
        super().__init__("voxline")
        self.versions: dict[str, str] = {}


def get_plugin_manager(load_env: str | None = None) -> PluginManager:
    """A plugin manager with voxline's hook specs, the built-in plugins and the installed
    third-party plugins (entry-point group `voxline`).

    `VOXLINE_LOAD_PLUGINS` (or `load_env`) is a comma-separated list of the third-party
    plugins to load; empty loads none. Built-ins always load. A hook implementation whose name
    matches no hook spec is a `PluginError`.
    """
    from voxline.plugins import BUILTINS

    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTINS:
        pm.register(importlib.import_module(module_name), name=module_name)

    wanted = load_env if load_env is not None else os.environ.get("VOXLINE_LOAD_PLUGINS")
    allowed = None if wanted is None else {n.strip() for n in wanted.split(",") if n.strip()}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must name itself, not crash voxline
            raise PluginError(f"plugin {ep.name!r} failed to load: {exc}") from exc
        pm.register(plugin, name=ep.name)
        if ep.dist is not None:
            pm.versions[ep.name] = ep.dist.version
    check(pm)
    return pm


def check(pm: pluggy.PluginManager) -> None:
    """Fail loudly on a hook implementation with no matching spec (a misspelled hook)."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {pm.get_name(exc.plugin)!r}: {exc}") from exc


@dataclass
class Registry:
    """What the discovery hooks registered, and which plugin registered each."""

    backends: dict[str, type[Backend]] = field(default_factory=dict)
    normalizers: dict[str, type[Normalizer]] = field(default_factory=dict)
    provided_by: dict[str, str] = field(default_factory=dict)
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    _caps: dict[str, Capabilities] = field(default_factory=dict, repr=False)

    def configure(self, options: Mapping[str, Mapping[str, Any]]) -> "Registry":
        """Bind the backends' configuration tables (`[backends.NAME]`), which decide the
        capabilities of configurable backends."""
        if options is not self.options:
            self.options = options
            self._caps.clear()
        return self

    def capabilities(self, name: str, _seen: tuple[str, ...] = ()) -> Capabilities:
        """Backend `name`'s capabilities under the bound configuration."""
        if name not in self._caps:
            if name in _seen:
                raise PluginError(f"backends {' -> '.join(_seen + (name,))} refer to each "
                                  "other in a loop")
            cls = self.backend(name)
            caps = cls.configured_capabilities(
                dict(self.options.get(name, {})),
                lambda other: self.capabilities(other, _seen + (name,)))
            if not isinstance(caps, Capabilities):
                raise PluginError(f"backend {name!r}: configured_capabilities returned "
                                  f"{type(caps).__name__}, not voxline.Capabilities")
            self._caps[name] = caps
        return self._caps[name]

    def speaks(self, name: str, language: str) -> bool:
        return language in self.capabilities(name).languages

    def backend(self, name: str) -> type[Backend]:
        from .errors import BackendError

        try:
            return self.backends[name]
        except KeyError:
            known = ", ".join(sorted(self.backends)) or "none"
            raise BackendError(f"unknown backend {name!r} (installed: {known})") from None


def build_registry(pm: pluggy.PluginManager) -> Registry:
    """Call the discovery hooks one plugin at a time, so each registration is attributed."""
    registry = Registry()

    def backend_register(plugin_name: str):
        def register(cls: type[Backend]) -> None:
            if not (isinstance(cls, type) and issubclass(cls, Backend)):
                raise PluginError(
                    f"plugin {plugin_name!r} registered {cls!r}, which is not a voxline.Backend"
                )
            name = getattr(cls, "name", None)
            if not isinstance(name, str) or not name:
                raise PluginError(f"plugin {plugin_name!r}: backend {cls.__name__} has no name")
            if not isinstance(getattr(cls, "capabilities", None), Capabilities):
                raise PluginError(
                    f"plugin {plugin_name!r}: backend {name!r} has no voxline.Capabilities"
                )
            key = f"backend:{name}"
            if name in registry.backends:
                raise PluginError(
                    f"backend name {name!r} registered by both {registry.provided_by[key]!r} "
                    f"and {plugin_name!r}"
                )
            registry.backends[name] = cls
            registry.provided_by[key] = plugin_name

        return register

    def normalizer_register(plugin_name: str):
        def register(cls: type[Normalizer]) -> None:
            if not (isinstance(cls, type) and issubclass(cls, Normalizer)):
                raise PluginError(
                    f"plugin {plugin_name!r} registered {cls!r}, which is not a voxline.Normalizer"
                )
            for language in cls.languages:
                registry.normalizers[language] = cls
                registry.provided_by[f"normalizer:{language}"] = plugin_name

        return register

    for hook_name, make_register in (
        ("register_normalizers", normalizer_register),
        ("register_backends", backend_register),
    ):
        # get_hookimpls() is in registration order: built-ins first, so a third-party
        # normalizer registered later replaces a built-in one for its languages.
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(register=make_register(impl.plugin_name))
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} failed in {hook_name}: {exc}"
                ) from exc
    return registry


def describe_plugins(pm: PluginManager) -> list[dict]:
    """Loaded plugins as plain data, for `voxline plugins`."""
    from voxline import __version__
    from voxline.plugins import BUILTINS

    out = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        out.append(
            {
                "name": name,
                "builtin": name in BUILTINS,
                "version": __version__ if name in BUILTINS else pm.versions.get(name),
                "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or []),
            }
        )
    return sorted(out, key=lambda p: (not p["builtin"], p["name"]))
