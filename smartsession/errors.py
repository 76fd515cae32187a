"""The one exception tree of SmartSession.

Every error a user can cause or meet derives from `SmartSessionError`; the CLI turns it
into a diagnostic on stderr and its ``exit_code``, with a traceback only under ``--verbose``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class SmartSessionError(Exception):
    """Base of every expected failure; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file: where (dotted key) and what is wrong.

    ``source`` names where the value came from when it was not the file the error is about
    (``FILE:LINE``, ``environment NAME``, ``command line --set ...``); "" for that file.
    """

    key: str
    message: str
    source: str = ""

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class ConfigError(SmartSessionError):
    """A config file (or a secret file) is missing, unreadable or invalid."""

    exit_code = 2

    def __init__(self, path: str, problems: Sequence[ConfigProblem]) -> None:
        self.path = path
        self.problems = tuple(problems)
        lines = [f"{problem.source or path}: {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))


class SecretError(ConfigError):
    """The class key or a machine key file is missing, unsafe or malformed."""


class HubError(SmartSessionError):
    """The hub cannot start or cannot keep running (port in use, database unusable)."""

    exit_code = 3


class AgentError(SmartSessionError):
    """The agent cannot start (no signal source, bad identity)."""

    exit_code = 4


class UsageError(SmartSessionError):
    """The command line asks for something that cannot be done as asked."""

    exit_code = 2


class SchoolError(SmartSessionError):
    """The school's PostgreSQL server cannot be used as asked (unreachable, refused, not set up).

    ``str(error)`` is one sentence saying what is wrong and what to do; ``short`` says what
    is wrong in a few words (for the class view's header).
    """

    exit_code = 1

    def __init__(self, sentence: str, short: str = "") -> None:
        super().__init__(sentence)
        self.short = short or sentence
