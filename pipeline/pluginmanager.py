"""Building the plugin manager and the registries the discovery hooks fill."""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .backend import Backend
from .errors import PluginError
from .models import Capabilities, Option
from .normalize import Normalizer
from .reading import Reader

ENTRY_POINT_GROUP = "voxline"


_reporters: list[Callable[[str], None]] = []


def on_plugin_problem(report: Callable[[str], None]) -> None:
    """Have `report(message)` called for each broken third-party plugin that is skipped
    (the CLI prints them as warnings)."""
    _reporters.append(report)


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, remembering the distribution version of each entry-point plugin and
    the problems of the plugins it skipped.

    A third-party plugin that fails to load, misspells a hook, raises or registers something
    unusable is skipped with a message naming it and the hook, and voxline works on with the
    others; with `strict` (`--strict-plugins`, `VOXLINE_STRICT_PLUGINS=1`) it is a
    `PluginError`. A broken built-in plugin is always an error.
    """

    def __init__(self, strict: bool = False) -> None:
        super().__init__("voxline")
        self.versions: dict[str, str] = {}
        self.strict = strict
        self.problems: list[str] = []

    def problem(self, plugin_name: str, message: str) -> None:
        """Skip a broken plugin, or raise when that is not allowed."""
        from voxline.plugins import BUILTINS

        if self.strict or plugin_name in BUILTINS:
            raise PluginError(message)
        self.problems.append(message)
        for report in _reporters:
            report(message)


def strict_from_env(env: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get("VOXLINE_STRICT_PLUGINS", "")
    return value.strip().lower() in ("1", "true", "yes", "on")


_managers: dict[tuple[str | None, bool], PluginManager] = {}
_managers_lock = threading.Lock()


def get_plugin_manager(load_env: str | None = None, strict: bool | None = None) -> PluginManager:
    """The process's plugin manager, built on first use and then shared by every command,
    the terminal UI and the server, so plugins load once and their hooks see one job's
    events. One is kept per plugin selection and strictness (the arguments of
    `new_plugin_manager`, read from the environment when not given);
    `forget_plugin_managers()` drops them (tests that install plugins mid-process)."""
    wanted = load_env if load_env is not None else os.environ.get("VOXLINE_LOAD_PLUGINS")
    key = (wanted, strict_from_env() if strict is None else strict)
    with _managers_lock:
        if key not in _managers:
            _managers[key] = new_plugin_manager(*key)
        return _managers[key]


def forget_plugin_managers() -> None:
    """Drop the shared plugin managers: the next `get_plugin_manager()` builds a new one."""
    with _managers_lock:
        _managers.clear()


def new_plugin_manager(load_env: str | None = None, strict: bool | None = None) -> PluginManager:
    """A new plugin manager with voxline's hook specs, the built-in plugins and the installed
    third-party plugins (entry-point group `voxline`), not shared with the rest of the
    process: for tests that register throwaway plugins.

    `VOXLINE_LOAD_PLUGINS` (or `load_env`) is a comma-separated list of the third-party
    plugins to load; empty loads none. Built-ins always load. `strict` (default:
    `VOXLINE_STRICT_PLUGINS`) makes a broken third-party plugin a `PluginError` instead of a
    skipped plugin and a reported problem.
    """
    from voxline.plugins import BUILTINS

    pm = PluginManager(strict_from_env() if strict is None else strict)
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
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must name itself, not crash voxline
            pm.problem(ep.name, f"plugin {ep.name!r} failed to load: "
                                f"{type(exc).__name__}: {exc}")
            continue
        if ep.dist is not None:
            pm.versions[ep.name] = ep.dist.version
    check(pm)
    return pm


def check(pm: PluginManager) -> None:
    """A hook implementation with no matching spec (a misspelled hook) names its plugin: the
    plugin is skipped, or with a strict manager it is a `PluginError`."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin)
            pm.problem(name, f"plugin {name!r}: {exc}")
            pm.unregister(exc.plugin)


@dataclass
class Registry:
    """What the discovery hooks registered, and which plugin registered each."""

    backends: dict[str, type[Backend]] = field(default_factory=dict)
    normalizers: dict[str, type[Normalizer]] = field(default_factory=dict)
    readers: dict[str, type[Reader]] = field(default_factory=dict)  # by suffix: ".epub"
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

    def check_options(self, tables: Mapping[str, Mapping[str, Any]]) -> None:
        """Every key and value of each `[backends.NAME]` table against the options that
        backend declares (`Backend.option_specs`); a `UsageError` naming the key, the value
        and what is allowed. Tables of backends that are not installed, or that declare
        nothing, are not checked."""
        from .errors import UsageError

        for name, table in tables.items():
            if getattr(self.backends.get(name), "option_specs", None) is None:
                continue
            for key, value in table.items():
                spec = self.option_spec(name, key, f"[backends.{name}] {key}")
                problem = spec.problem(value)
                if problem:
                    raise UsageError(f"[backends.{name}] {key} = {value!r}: {problem}"
                                     + (f" ({spec.help})" if spec.help else ""))

    def option_spec(self, name: str, key: str, given_as: str) -> Option:
        """The option `key` that backend `name` declares; a `UsageError` starting with
        `given_as` (where the key was given) when it declares no such option."""
        import difflib

        from .errors import UsageError

        known = {spec.name: spec for spec in self.backends[name].option_specs or ()}
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            raise UsageError(f"{given_as}: unknown option"
                             + (f" (did you mean {close[0]}?)" if close else ""),
                             hint=f"{name} takes: {', '.join(sorted(known)) or 'no options'}")
        return known[key]

    def parse_option(self, assignment: str) -> tuple[str, str, Any]:
        """`BACKEND.OPTION=VALUE` from the command line (`--option`) as (backend, key, value),
        the value typed and checked as the backend declares it; a `UsageError` otherwise. A
        backend that declares no options gets the value as TOML would read it, else text."""
        import tomllib

        from .errors import UsageError

        target, equals, text = assignment.partition("=")
        name, dot, key = target.strip().rpartition(".")
        if not (equals and dot and name and key):
            raise UsageError(f"--option {assignment}: expected BACKEND.OPTION=VALUE, e.g. "
                             "chattts-local.speaker=seed:7")
        if name not in self.backends:
            raise UsageError(f"--option {assignment}: unknown backend {name!r}",
                             hint=f"installed: {', '.join(sorted(self.backends)) or 'none'}")
        if self.backends[name].option_specs is None:
            try:
                return name, key, tomllib.loads(f"v = {text}")["v"]
            except tomllib.TOMLDecodeError:
                return name, key, text
        spec = self.option_spec(name, key, f"--option {name}.{key}")
        return name, key, self.parse_value(spec, text, f"--option {name}.{key}={text}")

    @staticmethod
    def parse_value(spec: Option, text: str, given_as: str) -> Any:
        """`text` as option `spec`'s value; a `UsageError` starting with `given_as`."""
        from .errors import UsageError

        try:
            return spec.parse(text)
        except ValueError as exc:
            raise UsageError(f"{given_as}: {exc}"
                             + (f" ({spec.help})" if spec.help else "")) from None

    def flags(self) -> dict[str, tuple[str, Option]]:
        """The command-line flags backends declare (`Option.flag`): flag → (backend,
        option)."""
        found: dict[str, tuple[str, Option]] = {}
        for name, cls in sorted(self.backends.items()):
            for spec in cls.option_specs or ():
                if spec.flag:
                    found.setdefault(spec.flag, (name, spec))
        return found

    def speaks(self, name: str, language: str) -> bool:
        return language in self.capabilities(name).languages

    def backend(self, name: str) -> type[Backend]:
        from .errors import BackendError

        try:
            return self.backends[name]
        except KeyError:
            known = ", ".join(sorted(self.backends)) or "none"
            raise BackendError(f"unknown backend {name!r} (installed: {known})") from None


def build_registry(pm: PluginManager) -> Registry:
    """Call the discovery hooks one plugin at a time, so each registration is attributed."""
    registry = Registry()

    def backend_register(plugin_name: str, staged: list):
        def register(cls: type[Backend]) -> None:
            if not (isinstance(cls, type) and issubclass(cls, Backend)):
                raise PluginError(
                    f"plugin {plugin_name!r} registered {cls!r}, which is not a voxline.Backend"
                )
            name = getattr(cls, "name", None)
            if not isinstance(name, str) or not name:
                raise PluginError(f"plugin {plugin_name!r}: backend {cls.__name__} has no name")
            caps = getattr(cls, "capabilities", None)
            if not isinstance(caps, Capabilities):
                raise PluginError(
                    f"plugin {plugin_name!r}: backend {name!r} has no voxline.Capabilities"
                )
            wrong = capability_problems(caps)
            if wrong:
                raise PluginError(f"plugin {plugin_name!r}: backend {name!r} declares "
                                  f"impossible capabilities: {'; '.join(wrong)}")
            key = f"backend:{name}"
            if name in registry.backends or any(n == name for n, _ in staged):
                raise PluginError(
                    f"backend name {name!r} registered by both "
                    f"{registry.provided_by.get(key, plugin_name)!r} and {plugin_name!r}"
                )
            staged.append((name, cls))

        return register

    def normalizer_register(plugin_name: str, staged: list):
        def register(cls: type[Normalizer]) -> None:
            if not (isinstance(cls, type) and issubclass(cls, Normalizer)):
                raise PluginError(
                    f"plugin {plugin_name!r} registered {cls!r}, which is not a voxline.Normalizer"
                )
            languages = getattr(cls, "languages", None)
            if not languages or not all(isinstance(x, str) and x for x in languages):
                raise PluginError(f"plugin {plugin_name!r}: normalizer {cls.__name__} "
                                  "declares no languages")
            staged.append((None, cls))

        return register

    def reader_register(plugin_name: str, staged: list):
        def register(cls: type[Reader]) -> None:
            if not (isinstance(cls, type) and issubclass(cls, Reader)):
                raise PluginError(
                    f"plugin {plugin_name!r} registered {cls!r}, which is not a voxline.Reader"
                )
            suffixes = getattr(cls, "suffixes", None)
            if not suffixes or not all(isinstance(x, str) and x.startswith(".")
                                       for x in suffixes):
                raise PluginError(f"plugin {plugin_name!r}: reader {cls.__name__} declares "
                                  "no suffixes (such as \".epub\")")
            staged.append((None, cls))

        return register

    for hook_name, make_register in (
        ("register_normalizers", normalizer_register),
        ("register_readers", reader_register),
        ("register_backends", backend_register),
    ):
        # get_hookimpls() is in registration order: built-ins first, so a third-party
        # normalizer registered later replaces a built-in one for its languages.
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            staged: list = []  # a plugin's registrations count only if its hook succeeds
            try:
                returned = impl.function(register=make_register(impl.plugin_name, staged))
                if returned is not None:
                    raise PluginError(
                        f"plugin {impl.plugin_name!r}: {hook_name} returned "
                        f"{type(returned).__name__}; it should call register() for each class "
                        "and return nothing")
            except Exception as exc:
                message = (str(exc) if isinstance(exc, PluginError) else
                           f"plugin {impl.plugin_name!r} failed in {hook_name}: "
                           f"{type(exc).__name__}: {exc}")
                pm.problem(impl.plugin_name, message)
                continue
            for name, cls in staged:
                if issubclass(cls, Reader):
                    for suffix in cls.suffixes:
                        registry.readers[suffix.lower()] = cls
                        registry.provided_by[f"reader:{suffix.lower()}"] = impl.plugin_name
                elif name is not None:
                    registry.backends[name] = cls
                    registry.provided_by[f"backend:{name}"] = impl.plugin_name
                else:
                    for language in cls.languages:
                        registry.normalizers[language] = cls
                        registry.provided_by[f"normalizer:{language}"] = impl.plugin_name
    return registry


CONTROLS = frozenset({"rate", "pitch", "volume"})


def capability_problems(caps: Capabilities) -> list[str]:
    """What makes a backend's declared capabilities impossible to honour."""
    wrong = []
    if not isinstance(caps.sample_rate_hz, int) or caps.sample_rate_hz <= 0:
        wrong.append(f"sample_rate_hz {caps.sample_rate_hz!r} is not a positive integer")
    if not caps.languages:
        wrong.append("no languages: it could speak nothing")
    if not isinstance(caps.budget_chars, int) or caps.budget_chars < 1:
        wrong.append(f"budget_chars {caps.budget_chars!r} is not at least 1")
    if caps.max_workers is not None and caps.max_workers < 1:
        wrong.append(f"max_workers {caps.max_workers!r} is not at least 1")
    unknown = set(caps.controls) - CONTROLS
    if unknown:
        wrong.append(f"unknown controls {sorted(unknown)} (known: rate, pitch, volume)")
    stray = sorted({v.language for v in caps.voices} - set(caps.languages))
    if stray:
        wrong.append(f"voices for languages it does not list: {', '.join(stray)}")
    return wrong


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
