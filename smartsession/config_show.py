"""``smartsession config show`` and ``config check``: the merged config in words.

`show_lines` prints every key as ``table.key = value  # source``: the value in TOML syntax
(so a line can be pasted into a file), where it came from (``default``, ``policy lecture``,
``FILE:LINE``, ``environment NAME``, ``command line --set ...``) and, for a path, the file it
names. Secrets are masked: a password inside ``school.database_url`` shows as ``***``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from smartsession.config_layers import Loaded, is_path, leaf_keys

#: A URL's password (``scheme://user:PASSWORD@host``) or a ``password=`` parameter.
_URL_PASSWORD = re.compile(r"(?P<head>://[^:/@]*:)[^@]*(?=@)|(?P<param>password=)[^&\s]*", re.IGNORECASE)


def mask(value: str) -> str:
    """``value`` with any password it carries replaced by ``***``."""
    return _URL_PASSWORD.sub(lambda m: (m.group("head") or m.group("param")) + "***", value)


def toml_value(value: Any) -> str:
    """``value`` written as TOML writes it (strings quoted, booleans lower case, inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    return repr(value)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def show_lines(loaded: Loaded) -> list[str]:
    """One line per key: value, source and (paths) what it resolves to; the files read first."""
    config = loaded.config
    data = msgspec.to_builtins(config)
    read = ", ".join(str(f) for f in loaded.files) or "none"
    lines = [f"# files read, lowest first: {read}"]
    rows: list[tuple[str, str]] = []
    for dotted, kind in leaf_keys():
        value: Any = data
        for part in dotted.split("."):
            value = value[part]
        text = toml_value(mask(value) if isinstance(value, str) else value)
        note = str(loaded.source(dotted))
        if is_path(kind) and value:
            note += f" -> {config.path(value)}"
        rows.append((f"{dotted} = {text}", note))
    width = min(60, max(len(left) for left, _ in rows))
    lines += [f"{left.ljust(width)}  # {note}" for left, note in rows]
    return lines


def check_summary(loaded: Loaded) -> str:
    """The one line ``config check`` prints for a config without problems."""
    main = str(loaded.files[-1]) if loaded.files else "defaults"
    others = [str(f) for f in loaded.files[:-1]]
    others += sorted({str(s) for s in loaded.sources.values() if s.kind in ("env", "flag")})
    return f"{main}: OK" + (f" (with {', '.join(others)})" if others else "")
