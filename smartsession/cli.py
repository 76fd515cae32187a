"""The ``smartsession`` command: subcommands, logging setup, and errors -> exit codes.

Each subcommand imports what it needs when it runs, so a headless command (hub, agent)
never imports the TUI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import platformdirs

from smartsession import __version__, logs
from smartsession.config import Config, load_config, read_secret, write_secret
from smartsession.config_layers import Loaded, Locations, load_layers
from smartsession.errors import SmartSessionError, UsageError

log = logging.getLogger("smartsession")

#: Exit code for a command interrupted by Ctrl-C.
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="smartsession",
        description="Terminal-first LAN classroom monitor.",
    )
    parser.add_argument("--version", action="version", version=f"smartsession {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    parser.add_argument("--log-file", type=Path, help="write logs to this file instead of stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="a hub, the TUI and simulated students on this machine")
    demo.add_argument("-n", "--students", type=int, default=12, help="simulated students (default 12)")
    demo.add_argument("--headless", action="store_true", help="no TUI; run for --duration seconds")
    demo.add_argument("--duration", type=float, default=30.0, help="seconds to run headless (default 30)")
    demo.add_argument("--json", action="store_true", help="print a JSON summary at the end (headless)")
    demo.add_argument("--seed", type=int, default=1, help="seed of the simulated class (default 1)")
    demo.set_defaults(func=_cmd_demo)

    hub = sub.add_parser("hub", help="run the hub headless (no TUI)")
    add_config_options(hub, "teacher config file (TOML)")
    hub.set_defaults(func=_cmd_hub)

    teacher = sub.add_parser("teacher", help="run the hub with the class view (TUI)")
    add_config_options(teacher, "teacher config file (TOML)")
    teacher.set_defaults(func=_cmd_teacher)

    agent = sub.add_parser("agent", help="run a student agent")
    add_config_options(agent, "agent config file (TOML)")
    agent.add_argument("--simulate", metavar="PROFILE", help="simulated signals instead of a camera")
    agent.add_argument("--seed", type=int, default=0, help="seed of the simulated student")
    agent.add_argument("--report", type=Path, help="write a JSON report here at exit")
    agent.add_argument(
        "--loop-video", action="store_true", help="replay a camera.device video file at its end"
    )
    agent.add_argument(
        "--show", action="store_true", help="do not run: print live what the running agent sends (= status)"
    )
    agent.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    agent.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    agent.set_defaults(func=_cmd_agent)

    status = sub.add_parser(
        "status", help="print live what this machine's agent sends about the student, sample by sample"
    )
    add_config_options(status, "agent config file (TOML)")
    status.add_argument("--count", type=int, default=0, help="stop after this many items (0 = follow)")
    status.add_argument("--json", action="store_true", help="each item as the JSON object sent")
    status.set_defaults(func=_cmd_status)

    notice = sub.add_parser(
        "notice", help="tell the student at login what is measured and never sent (desktop notification)"
    )
    add_config_options(notice, "agent config file (TOML)")
    notice.set_defaults(func=_cmd_notice)

    config = sub.add_parser("config", help="config file tools")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = config_sub.add_parser(
        "check", help="validate the merged config (files, environment, --set); every problem with its source"
    )
    check.add_argument("file", type=Path, nargs="?", help="the config file (the same as -c FILE)")
    add_config_options(check, "the config file")
    check.set_defaults(func=_cmd_config_check)
    show = config_sub.add_parser("show", help="print every effective value and where it came from")
    show.add_argument("file", type=Path, nargs="?", help="the config file (the same as -c FILE)")
    add_config_options(show, "the config file")
    show.set_defaults(func=_cmd_config_show)
    reference = config_sub.add_parser("reference", help="every key as Markdown (docs/config.md)")
    reference.set_defaults(func=_cmd_config_reference)

    for name, (target, text) in _DELEGATED.items():
        # Arguments after the command name go, untouched, to the command's own parser.
        delegated = sub.add_parser(name, help=text, add_help=False, prefix_chars="\0")
        delegated.add_argument("args", nargs="*")
        delegated.set_defaults(func=_delegate(target))

    keygen = sub.add_parser(
        "keygen",
        help="write a new class key, or lab machines' own keys (owner-only files)",
        description="Without --student/--roster: write a new class key (teacher's machine). "
        "With them: write each lab machine's own key, derived from the class key of -c CONFIG.",
    )
    keygen.add_argument(
        "file", type=Path, nargs="?", help="output file (default class.secret, or ID.key with --student)"
    )
    keygen.add_argument(
        "--student",
        action="append",
        default=[],
        metavar="ID",
        help="a machine key for this student (repeatable)",
    )
    keygen.add_argument("--roster", action="store_true", help="a machine key for every [roster] student")
    keygen.add_argument("-c", "--config", type=Path, help="the teacher config: class id, class key, roster")
    keygen.add_argument("--out-dir", type=Path, default=Path("."), help="folder for ID.key files (default .)")
    keygen.add_argument(
        "--owner", default="", help="give the key files to this user (the agent's service user)"
    )
    keygen.add_argument("--force", action="store_true", help="replace existing files")
    keygen.set_defaults(func=_cmd_keygen)
    return parser


#: Subcommands with their own argument parsers: name -> ("module:function", help).
#: The function takes the remaining arguments and returns the exit code.
_DELEGATED: dict[str, tuple[str, str]] = {
    "analyze": (
        "smartsession.vision.analyze:main",
        "analyse an image or video file; one JSON line per frame",
    ),
    "bench": (
        "smartsession.bench:main",
        "benchmarks (hub, agent, tui, school) printing JSON",
    ),
    "enroll": (
        "smartsession.enroll:main",
        "seat check: the student enrols on this machine with consent (--delete erases it)",
    ),
    "sessions": ("smartsession.report.commands:sessions_main", "list stored sessions"),
    "report": ("smartsession.report.commands:report_main", "export a session report (html, csv, json, xlsx)"),
    "purge": ("smartsession.report.commands:purge_main", "delete stored data by date or by student"),
    "school": (
        "smartsession.school.commands:main",
        "set up the school's PostgreSQL server: migrate, add-hub (a role per hub)",
    ),
    "doctor": ("smartsession.doctor:main", "check this machine: config, secret, camera, models, network"),
    "install-service": (
        "smartsession.install_service:main",
        "write the systemd units of the agent or the hub (--user, --dry-run)",
    ),
}


def _delegate(target: str) -> Callable[[argparse.Namespace], int]:
    module_name, _, function_name = target.partition(":")

    def run(args: argparse.Namespace) -> int:
        import importlib

        function: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), function_name)
        return function(list(args.args))

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    logs.configure(log_file=_log_file(args), verbose=args.verbose)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except SmartSessionError as exc:
        if args.verbose:
            log.exception("failed")
        print(f"smartsession: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _log_file(args: argparse.Namespace) -> Path | None:
    """Where logs go: ``--log-file``, or a file in the user's log folder while the TUI owns the terminal."""
    owns_terminal = args.command == "teacher" or (args.command == "demo" and not args.headless)
    if args.log_file is None and owns_terminal:
        return platformdirs.user_log_path("smartsession") / "smartsession.log"
    return args.log_file  # type: ignore[no-any-return]


def _run_until_signalled(main_coro: Callable[[asyncio.Event], object]) -> None:
    """Run ``main_coro(stop)`` until it returns; SIGINT/SIGTERM set ``stop``."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        result = main_coro(stop)
        if asyncio.iscoroutine(result):
            await result

    asyncio.run(runner())


#: Help of ``--insecure`` (hub, teacher, agent).
_INSECURE_HELP = "plain ws:// without TLS (network.tls = false); for debugging only"


def add_config_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``-c FILE``, ``--set TABLE.KEY=VALUE`` and ``--insecure``: the command line's layers of the config."""
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        help=f"{what}; read after /etc/smartsession/config.toml and the user's config file",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="override one key (TOML value or a bare string); repeatable",
    )
    parser.add_argument("--insecure", action="store_true", help=_INSECURE_HELP)


def command_line_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--set`` and ``--insecure`` of ``args`` as dotted key -> value (the command line layer)."""
    flags: dict[str, Any] = {}
    for item in args.set:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise UsageError(f"--set expects TABLE.KEY=VALUE, got {item!r}")
        flags[key.strip()] = value
    if args.insecure:
        flags["network.tls"] = False
    return flags


def load_layered(args: argparse.Namespace) -> Loaded:
    """Every layer of the config a command runs with (see `smartsession.config_layers`);
    the log then follows its ``[logging]`` table."""
    file = getattr(args, "file", None) or args.config
    loaded = load_layers(file, locations=Locations.standard(), flags=command_line_flags(args))
    settings = loaded.config.logging
    logs.configure(
        level=settings.level, format=settings.format, log_file=_log_file(args), verbose=args.verbose
    )
    return loaded


def _load_config(args: argparse.Namespace) -> Config:
    return load_layered(args).config


def _load(args: argparse.Namespace) -> tuple[Config, bytes]:
    config = _load_config(args)
    return config, read_secret(config.secret_path)


def _cmd_hub(args: argparse.Namespace) -> int:
    from smartsession.hub.service import run_hub, tune_gc_for_serving

    config, secret = _load(args)
    tune_gc_for_serving()
    _run_until_signalled(lambda stop: run_hub(config, secret, stop))
    return 0


def _cmd_teacher(args: argparse.Namespace) -> int:
    from smartsession.hub.service import Hub, tune_gc_for_serving
    from smartsession.tui.app import create_app

    config, secret = _load(args)
    tune_gc_for_serving()
    hub = Hub(config, secret)
    app = create_app(hub, config.tui, service=hub)
    app.run()
    return app.return_code or 0


def _cmd_agent(args: argparse.Namespace) -> int:
    import msgspec

    from smartsession.agent.runner import run_agent
    from smartsession.agent.sources import SignalSource, SimulatedSource
    from smartsession.errors import AgentError
    from smartsession.keys import agent_identity

    if args.show:
        return _cmd_status(args)
    config, key = agent_identity(_load_config(args))
    source: SignalSource
    if args.simulate:
        try:
            source = SimulatedSource(args.simulate, args.seed, config.agent.frame_rate)
        except ValueError as exc:
            raise AgentError(str(exc)) from None
    else:
        from smartsession.agent.isolation import VisionProcess, seat_setup

        seat = seat_setup(config.identity, config.template_path, key)
        camera = VisionProcess(config.camera, config.agent.frame_rate, loop_video=args.loop_video, seat=seat)
        camera.start()  # raises AgentError when it cannot be isolated and that is not allowed
        source = camera

    async def agent_main(stop: asyncio.Event) -> None:
        report = await run_agent(config, key, source, stop)
        if args.report is not None:
            args.report.write_bytes(msgspec.json.encode(report))

    _run_until_signalled(agent_main)
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from smartsession.agent.status import Status, describe, follow, status_path

    path = status_path(_load_config(args))
    if not path.exists():
        print(f"waiting for the agent's status in {path} (is the agent running?)", flush=True)
    shown = 0
    for entry in follow(path):
        if isinstance(entry, Status):
            link = f"connected to {entry.hub_url}" if entry.hub_url else entry.link
            print(f"{entry.notice}\nagent {entry.pid} of {entry.student_id}: {link}", flush=True)
            continue
        import msgspec

        print(msgspec.json.encode(entry).decode() if args.json else describe(entry), flush=True)
        shown += 1
        if shown == args.count:
            break
    return 0


def _cmd_notice(args: argparse.Namespace) -> int:
    from smartsession.agent.notice import notice_text, notify_desktop, session_bus_address
    from smartsession.agent.status import read_status, status_path

    config = _load_config(args)
    status = read_status(status_path(config))
    text = status.notice if status is not None else notice_text(config.class_.id, config.student_id)
    print(text)
    address = session_bus_address()
    if address:
        shown = notify_desktop(text, address=address)
        print(f"shown on the desktop (notification {shown})")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from smartsession.demo import run_demo

    return run_demo(
        students=args.students,
        headless=args.headless,
        duration=args.duration,
        as_json=args.json,
        seed=args.seed,
        verbose=args.verbose,
    )


def _cmd_config_check(args: argparse.Namespace) -> int:
    from smartsession.config_show import check_summary

    print(check_summary(load_layered(args)))
    return 0


def _cmd_config_show(args: argparse.Namespace) -> int:
    from smartsession.config_show import show_lines

    for line in show_lines(load_layered(args)):
        print(line)
    return 0


def _cmd_config_reference(args: argparse.Namespace) -> int:
    from smartsession.config_reference import reference

    sys.stdout.write(reference())
    return 0


def _cmd_keygen(args: argparse.Namespace) -> int:
    if not (args.student or args.roster):
        path = args.file or Path("class.secret")
        write_secret(path, overwrite=args.force)
        print(
            f"wrote a new class key to {path} (owner-only); keep it on the teacher's machine and give "
            "each lab machine its own key: smartsession keygen --student ID -c teacher.toml"
        )
        return 0
    from smartsession.keys import MachineKey, write_machine_key

    if args.config is None:
        raise UsageError(
            "keygen --student/--roster needs -c CONFIG (the teacher's config with the class key)"
        )
    config = load_config(args.config)
    class_key = read_secret(config.secret_path)
    students = list(dict.fromkeys([*args.student, *(config.roster.students if args.roster else ())]))
    if not students:
        raise UsageError("the config's [roster] lists no students")
    if args.file is not None and len(students) > 1:
        raise UsageError("FILE names one key file; use --out-dir for several students")
    bad = [sid for sid in students if not _IDENT.fullmatch(sid)]
    if bad:
        raise UsageError(f"not a valid student id: {', '.join(map(repr, bad))} (letters, digits, . _ -)")
    for student_id in students:
        path = args.file or args.out_dir / f"{student_id}.key"
        key = MachineKey.derive(class_key, config.class_.id, student_id)
        write_machine_key(path, key, overwrite=args.force, owner=args.owner)
        print(f"wrote the machine key of {student_id} to {path}")
    print(
        "copy each file to its lab machine as agent.key_file (e.g. /etc/smartsession/machine.key), "
        "owned by the agent's service user, mode 600; it proves that student id and nothing else"
    )
    return 0


#: A student id, the whole string (the protocol's pattern).
_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
