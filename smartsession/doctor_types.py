"""One line of ``smartsession doctor``'s checklist, shared by its modules."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True)
class Check:
    """One line of the checklist: what was checked, how it went (`OK`, `WARN`, `FAIL`), a sentence."""

    name: str
    status: str
    detail: str
