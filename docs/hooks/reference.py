"""MkDocs hook: the reference pages' tables, generated from the code at build time.

A page asks for a table with a marker line of its own, e.g. `<!-- reference: cli -->`:

- `cli`: every built-in `voxline` command and subcommand, its usage, help and options, as
  `--help` prints them (walking the click group `voxline.cli.main.cli`);
- `settings`: every field of `voxline.settings.Settings`, with its `[synth]` (or other) TOML
  key, environment variable, `synth` flag, default and the comment above or beside the field;
- `backend-options`: every option each built-in backend declares (`Backend.option_specs`),
  for its `[backends.NAME]` table.

tests/docs/test_docs.py builds the site in strict mode and checks that the pages list everything
the code has, so the reference cannot drift from the code.
"""

from __future__ import annotations

import ast
import dataclasses
import html
import inspect
import re

import click

MARKER = re.compile(r"^<!-- reference: ([a-z-]+) -->$", re.MULTILINE)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace each reference marker on a page with its generated table."""
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](), markdown)


def _text(value: str) -> str:
    """Help text as HTML: escaped, with `code` spans kept."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(value, quote=False))


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """An HTML table (Markdown tables would read `|`, `*` and `_` in help texts)."""
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>",
           "<tbody>"]
    out += ["<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows]
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


# --- the CLI ---------------------------------------------------------------------------------

def cli_commands() -> list[tuple[str, click.Command, click.Context]]:
    """(`voxline synth`, its command, a context for it) for the group and every built-in
    command below it, in the order `--help` lists them, with the flags built-in backends
    declare (added when plugins load, as `voxline` itself does)."""
    from voxline.cli.main import add_builtin_backend_flags, cli

    add_builtin_backend_flags()

    found = []

    def walk(command: click.Command, path: str, parent: click.Context | None) -> None:
        ctx = click.Context(command, info_name=path.rsplit(" ", 1)[-1], parent=parent)
        found.append((path, command, ctx))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, f"{path} {name}", ctx)

    walk(cli, "voxline", None)
    return found


def _help_html(command: click.Command) -> str:
    """A command's help text: paragraphs, and `\\b` blocks kept as written."""
    text = inspect.cleandoc(command.help or "")
    blocks = []
    for para in re.split(r"\n\s*\n", text):
        if para.startswith("\b\n"):
            blocks.append("<pre>" + html.escape(para[2:]) + "</pre>")
        elif para.strip():
            blocks.append("<p>" + _text(" ".join(para.split())) + "</p>")
    return "\n".join(blocks)


def cli_reference() -> str:
    parts = []
    for path, command, ctx in cli_commands():
        level = "#" * max(2, min(1 + path.count(" "), 4))
        usage = " ".join([path] + command.collect_usage_pieces(ctx))
        parts += [f"{level} {path}", "", f'<pre class="voxline-usage">{html.escape(usage)}</pre>',
                  "", _help_html(command), ""]
        rows = []
        for param in command.get_params(ctx):
            if isinstance(param, click.Argument):
                rows.append((f"<code>{html.escape(param.make_metavar(ctx))}</code>",
                             "argument" + (", required" if param.required else "")))
                continue
            record = param.get_help_record(ctx)
            if record is None:
                continue
            opts, help_text = record
            rows.append((f"<code>{html.escape(opts)}</code>", _text(help_text)))
        if rows:
            parts += [_table(("option", "meaning"), rows), ""]
        if isinstance(command, click.Group):
            subs = [(name, command.get_command(ctx, name)) for name in command.list_commands(ctx)]
            parts += [_table(("command", "what"), [
                (f"<code>{path} {name}</code>", _text(sub.get_short_help_str(90)))
                for name, sub in subs if sub is not None and not sub.hidden]), ""]
    return "\n".join(parts)


# --- settings --------------------------------------------------------------------------------

def settings_comments() -> dict[str, str]:
    """Each `Settings` field's comment in pipeline/settings.py: the comment lines right above
    the field and the one at the end of its line."""
    from voxline import settings

    source = inspect.getsource(settings)
    lines = source.splitlines()
    tree = ast.parse(source)
    cls = next(node for node in tree.body
               if isinstance(node, ast.ClassDef) and node.name == "Settings")
    comments = {}
    group = ""  # a comment block above several fields speaks for those it names
    for node in cls.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        name = node.target.id
        above = []
        row = node.lineno - 2
        while row >= 0 and lines[row].strip().startswith("#"):
            above.insert(0, lines[row].strip().lstrip("#").strip())
            row -= 1
        end = lines[node.end_lineno - 1]
        beside = end.split("  # ", 1)[1].strip() if "  # " in end else ""
        if above:
            group = " ".join(above)
        own = " ".join(p for p in [" ".join(above), beside] if p)
        comments[name] = own or (group if re.search(rf"\b{name}\b", group) else "")
    return comments


# Settings fields set outside `[synth]`: where each is configured
_OTHER_HOMES = {
    "routes": "<code>[routes]</code> LANG = \"BACKEND[:VOICE]\"",
    "backends": "<code>[backends.NAME]</code> (see below)",
    "speakers": "<code>[dialogue] voices</code>",
    "turn_pause_s": "<code>[dialogue] turn_pause</code>",
    "lexicon": "<code>[lexicon] files</code>",
    "max_chars_per_s": "<code>[quality] max_chars_per_s</code> LANG = N",
    "config_file": "<code>--config</code>, <code>VOXLINE_CONFIG</code>",
}


def settings_rows() -> list[dict]:
    """One entry per `Settings` field: field, TOML home, environment variable, flag,
    default, description."""
    from voxline import settings as module
    from voxline.cli import options

    synth_key = {field: key for key, (field, _) in module._SYNTH_KEYS.items()}
    env_of = {key: env for env, key in module._ENV_KEYS.items()}
    flag_of = {}
    synth_command = dict((path, cmd) for path, cmd, _ in cli_commands())["voxline synth"]
    by_param = {p.name: p for p in synth_command.params}
    for param_name, key in getattr(options, "_SETTINGS_KEYS", {}).items():
        param = by_param.get(param_name)
        if param is not None:
            flag_of[key] = " / ".join(o for o in param.opts + param.secondary_opts
                                      if o.startswith("--"))
    comments = settings_comments()
    rows = []
    for field in dataclasses.fields(module.Settings):
        key = synth_key.get(field.name)
        if field.name in _OTHER_HOMES:
            home = _OTHER_HOMES[field.name]
            if key and field.name != "lexicon":  # [synth] lexicon is refused, saying where
                home = f"<code>[synth] {key}</code>, " + home
        elif key:
            home = f"<code>[synth] {key}</code>"
        else:
            home = ""
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.name == "workers":
            default = "CPU cores"
        else:
            default = field.default_factory()  # type: ignore[misc]
        rows.append({
            "field": field.name, "home": home,
            "env": env_of.get(key, "") if key else "",
            "flag": flag_of.get(key, "") if key else "",
            "default": default if isinstance(default, str) and default == "CPU cores"
            else repr(default if not isinstance(default, dict) else dict(default)),
            "about": comments.get(field.name, ""),
        })
    return rows


def settings_reference() -> str:
    rows = [(f"<code>{r['field']}</code>", r["home"],
             f"<code>{r['env']}</code>" if r["env"] else "",
             f"<code>{html.escape(r['flag'])}</code>" if r["flag"] else "",
             f"<code>{html.escape(r['default'])}</code>", _text(r["about"]))
            for r in settings_rows()]
    return _table(("setting", "config file", "environment", "flag", "default", "what"), rows)


# --- backend options -------------------------------------------------------------------------

def backend_options() -> dict[str, list]:
    """Built-in backend name → the options it declares (`voxline.Option`), built-ins only so
    the page does not depend on what else is installed."""
    from voxline.pluginmanager import build_registry, get_plugin_manager

    registry = build_registry(get_plugin_manager(load_env=""))
    return {name: list(getattr(cls, "option_specs", None) or ())
            for name, cls in sorted(registry.backends.items())}


def backend_options_reference() -> str:
    parts = []
    for name, specs in backend_options().items():
        parts += [f"### `[backends.{name}]`", ""]
        if not specs:
            parts += ["It declares no options.", ""]
            continue
        rows = []
        for spec in specs:
            bounds = ""
            if spec.minimum is not None or spec.maximum is not None:
                lo = "" if spec.minimum is None else f"{spec.minimum:g}"
                hi = "" if spec.maximum is None else f"{spec.maximum:g}"
                bounds = f"{lo}–{hi}"
            default = "" if spec.default is None else \
                f"<code>{html.escape(repr(spec.default))}</code>"
            rows.append((f"<code>{spec.name}</code>", spec.type.__name__, default, bounds,
                         _text(spec.help)))
        parts += [_table(("key", "type", "default", "range", "what"), rows), ""]
    return "\n".join(parts)


GENERATORS = {
    "cli": cli_reference,
    "settings": settings_reference,
    "backend-options": backend_options_reference,
}
