"""Teacher configs for hubs that replicate to a test's school database."""

from __future__ import annotations

from pathlib import Path

from hub.wsagent import alert_event, join_agent, sample

from smartsession.config import (
    ClassConfig,
    Config,
    HubConfig,
    NetworkConfig,
    SchoolConfig,
    StorageConfig,
    TuiConfig,
)
from smartsession.core.protocol import Batch
from smartsession.core.states import State
from smartsession.hub import Hub

from .conftest import School

SECRET = bytes(range(32))


def hub_config(
    school: School | None,
    folder: Path,
    hub_id: str,
    class_id: str,
    *,
    course: str = "",
    url: str = "",
    password_file: Path | None = None,
    retention_days: int = 30,
) -> Config:
    """A headless hub on loopback (no zeroconf) storing in ``folder/hub.db``, replicating to ``school``.

    A class alert needs no time to build up (``tui.spike_seconds`` 1 ms), so a lesson in which
    two students are Confused at once stores class events to replicate.
    """
    if school is not None and not url:
        url, password_file = school.add_hub(hub_id)
    folder.mkdir(parents=True, exist_ok=True)
    return Config(
        class_=ClassConfig(id=class_id, course=course),
        network=NetworkConfig(interfaces=("127.0.0.1",), discovery=False),
        hub=HubConfig(host="127.0.0.1", port=0, hub_id=hub_id, join_timeout=5.0),
        storage=StorageConfig(
            database=str(folder / "hub.db"), batch_interval=0.02, retention_days=retention_days
        ),
        tui=TuiConfig(spike_seconds=0.001),
        school=SchoolConfig(
            database_url=url,
            password_file=str(password_file) if password_file else "",
            interval=0.1,
            retry_max=1.0,
            connect_timeout=3,
        ),
        base_dir=str(folder),
    )


#: A lesson: per segment label, per student, the states of its samples in order.
Lesson = dict[str, dict[str, list[State]]]


async def teach(config: Config, lesson: Lesson) -> str:
    """Run a hub for ``lesson`` (segments marked in order, real agents sending samples) until stopped.

    Each student ends with one alert event. Returns the session id; the hub ends the session
    cleanly, so replication finishes at stop.
    """
    async with Hub(config, SECRET) as hub:
        students = sorted({sid for segment in lesson.values() for sid in segment})
        agents = {sid: await join_agent(hub.url, SECRET, sid) for sid in students}
        seqs = dict.fromkeys(students, 0)
        for label, states in lesson.items():
            await hub.mark_segment(label)
            for sid, sequence in states.items():
                items = []
                for state in sequence:
                    seqs[sid] += 1
                    items.append(sample(seqs[sid], state))
                await agents[sid].send(Batch(items=tuple(items)))
                await agents[sid].wait_ack(seqs[sid])
        for sid, agent in agents.items():
            seqs[sid] += 1
            await agent.send(alert_event(seqs[sid]))
            await agent.wait_ack(seqs[sid])
            await agent.close()
        return hub.session_id


def teacher_toml(config: Config, path: Path) -> Path:
    """Write the parts of ``config`` the report commands read as a teacher config file."""
    school = config.school
    path.write_text(
        f'[class]\nid = "{config.class_.id}"\ncourse = "{config.class_.course}"\n'
        f'[hub]\nhub_id = "{config.hub.hub_id}"\n'
        f'[storage]\ndatabase = "{config.database_path}"\nretention_days = {config.storage.retention_days}\n'
        f'[school]\ndatabase_url = "{school.database_url}"\npassword_file = "{school.password_file}"\n'
        f"connect_timeout = {school.connect_timeout}\n",
        encoding="utf-8",
    )
    return path
