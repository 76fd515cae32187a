"""The teacher's hub: WebSocket server, SQLite store, zeroconf announcer, and the `Hub` service."""

from smartsession.hub.service import Hub, run_hub

__all__ = ["Hub", "run_hub"]
