"""One daemon thread that runs blocking calls in order, awaited from the event loop.

The replicator's SQLite read connection and its PostgreSQL connection are used by this
thread only. It is a daemon thread (a `concurrent.futures.ThreadPoolExecutor`'s threads
are joined at interpreter exit): a call stuck on an unreachable server never keeps the hub
process from exiting.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Callable[[], Any], "concurrent.futures.Future[Any]"] | None


class Worker:
    """A named daemon thread; `run` a function on it and await the result, `close` at the end."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        #: CPU seconds the thread has used, as of its last call.
        self.cpu_seconds = 0.0
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Queue ``fn()`` to run on the thread after the calls queued before it."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the thread (see `submit`) and return its result."""
        return await asyncio.wrap_future(self.submit(fn))

    def close(self, within: float) -> bool:
        """Let queued calls finish, then end the thread; False if it is still busy after ``within`` s."""
        self._jobs.put(None)
        self._thread.join(within)
        return not self._thread.is_alive()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, future = job
            if future.set_running_or_notify_cancel():
                try:
                    result = fn()
                except BaseException as exc:
                    self.cpu_seconds = time.thread_time()
                    future.set_exception(exc)
                else:
                    self.cpu_seconds = time.thread_time()
                    future.set_result(result)
