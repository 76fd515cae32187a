"""The student is told: what is measured, what is never sent, and how to look.

`notice_text` is the one text every channel uses: the agent's log and status file at start,
and a desktop notification where a desktop session exists (`notify_desktop`: the
freedesktop ``org.freedesktop.Notifications.Notify`` call on the session bus, through the
pure-Python D-Bus client jeepney). On a lab machine the agent is a system service without a
session bus; the login's own part (``smartsession notice``, a user unit started with the
graphical session) shows it there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from smartsession.errors import SmartSessionError

#: The notification's title.
TITLE = "SmartSession: the webcam is analysed on this computer"
#: The application name the notification server shows.
APP_NAME = "SmartSession"
#: Seconds a notification call may take.
NOTIFY_TIMEOUT = 5.0


def notice_text(class_id: str, student_id: str) -> str:
    """What the student is told at every start (plain sentences)."""
    return (
        f"Monitoring is on for class {class_id} (student {student_id}). The webcam is analysed on "
        "this computer; about once a second it sends the teacher only numbers: attention and "
        "confusion scores, the state (focused, confused, alert), how many faces are in view, "
        "head angles and facial cues (brow, eyes, smile, lips), and alerts (no face, more than "
        "one face, looking away, eyes closed, camera unavailable). Never sent or stored anywhere: "
        "images, video, sound, your screen or your files. See what is sent: smartsession status"
    )


class NoticeError(SmartSessionError):
    """No desktop session to show the notice in, or its notification server refused it."""

    exit_code = 1


def session_bus_address(env: Mapping[str, str] | None = None) -> str:
    """The desktop session's D-Bus address ("" when this process has no desktop session).

    ``DBUS_SESSION_BUS_ADDRESS``, else the systemd user bus ``$XDG_RUNTIME_DIR/bus``.
    """
    env = os.environ if env is None else env
    address = env.get("DBUS_SESSION_BUS_ADDRESS", "")
    if address:
        return address
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime and Path(runtime, "bus").is_socket():
        return f"unix:path={Path(runtime, 'bus')}"
    return ""


def notify_desktop(body: str, *, address: str) -> int:
    """Show a desktop notification (`TITLE`, ``body``) on the session bus at ``address``.

    Returns the notification server's id for it. Raises `NoticeError` with a sentence when
    the bus or the server is not there or refuses.
    """
    from jeepney import DBusAddress, DBusErrorResponse, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    target = DBusAddress(
        "/org/freedesktop/Notifications",
        bus_name="org.freedesktop.Notifications",
        interface="org.freedesktop.Notifications",
    )
    hints = {"urgency": ("y", 1), "category": ("s", "device")}
    # Notify(app_name, replaces_id, app_icon, summary, body, actions, hints, expire_timeout)
    call = new_method_call(target, "Notify", "susssasa{sv}i", (APP_NAME, 0, "", TITLE, body, [], hints, -1))
    try:
        with open_dbus_connection(bus=address) as connection:
            reply = connection.send_and_get_reply(call, timeout=NOTIFY_TIMEOUT)
    except DBusErrorResponse as exc:
        raise NoticeError(f"the desktop's notification server refused the notice: {exc.name}") from None
    except (OSError, TimeoutError, ValueError, KeyError) as exc:
        raise NoticeError(f"cannot reach the desktop session bus {address}: {exc}") from None
    return int(reply.body[0])
