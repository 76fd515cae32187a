"""Teacher configs for hubs that replicate to a test's school database."""

from __future__ import annotations

from pathlib import Path

from smartsession.config import ClassConfig, Config, HubConfig, NetworkConfig, SchoolConfig, StorageConfig

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
) -> Config:
    """A headless hub on loopback (no zeroconf) storing in ``folder/hub.db``, replicating to ``school``."""
    if school is not None and not url:
        url, password_file = school.add_hub(hub_id)
    folder.mkdir(parents=True, exist_ok=True)
    return Config(
        class_=ClassConfig(id=class_id, course=course),
        network=NetworkConfig(interfaces=("127.0.0.1",), discovery=False),
        hub=HubConfig(host="127.0.0.1", port=0, hub_id=hub_id, join_timeout=5.0),
        storage=StorageConfig(database=str(folder / "hub.db"), batch_interval=0.02),
        school=SchoolConfig(
            database_url=url,
            password_file=str(password_file) if password_file else "",
            interval=0.1,
            retry_max=1.0,
            connect_timeout=3,
        ),
        base_dir=str(folder),
    )
