"""Another hub announcing this hub's class: said at once, and again while it lasts.

A second hub with the same class id (a teacher who opened ``teacher`` twice, two rooms with
a copied config) would split a class if agents chose freely. They do not (every agent
prefers the hub that started first, `smartsession.core.candidates.preference`), but the
teachers must know: `RivalWatch` browses for the class's adverts beside the announcer, and
for each other hub logs a warning naming its hub id, address and start time, and which of
the two the agents join; it repeats the warning every `REPEAT_SECONDS` while the other
hub is announced, and says when it is gone. `RivalWatch.text` is the same sentence for the
class view's banner and ``doctor``.

TXT is a hint: a forged advert can raise this warning (never move an agent: agents join
only a hub that passes both proofs).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence

import msgspec

from smartsession.agent.discovery import HubBrowser
from smartsession.config import Config
from smartsession.core.candidates import preference
from smartsession.core.discovery import Candidate, HubAdvert

log = logging.getLogger(__name__)

#: Seconds between two repeats of the warning while another hub announces the class.
REPEAT_SECONDS = 60.0


def rival_sentence(class_id: str, own: Candidate, rivals: Sequence[HubAdvert]) -> str:
    """One sentence: the other hubs of the class, where they are, and which hub agents join."""
    if not rivals:
        return ""
    others = "; ".join(
        f"hub {a.hub_id!r} at {a.address}:{a.port} (started {_clock(a.started)})" for a in rivals
    )
    chosen = min([own, *(_candidate(a) for a in rivals)], key=preference)
    if chosen == own:
        verdict = "agents join this hub, which started first"
    else:
        assert chosen.advert is not None
        verdict = f"agents join hub {chosen.advert.hub_id!r}, not this one (it started first)"
    plural = "other hubs announce" if len(rivals) > 1 else "another hub announces"
    return (
        f"{plural} class {class_id!r}: {others}; {verdict}. Stop the hub that should not run, or "
        "give it another class.id"
    )


def _candidate(advert: HubAdvert) -> Candidate:
    return Candidate(advert.url, advert, hub_id=advert.hub_id)


def _clock(started: float) -> str:
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started > 0 else "at an unknown time"
    )


class RivalWatch:
    """Browses for other hubs of the class; `start` after the announcer, `stop` before it.

    ``own``: this hub's advert (what it announces), to tell it from the others;
    ``addresses`` the addresses it announces on.
    """

    def __init__(self, config: Config, own: HubAdvert, addresses: Iterable[str]) -> None:
        self._config = config
        self._own = own
        self._addresses = frozenset(addresses)
        self._browser = HubBrowser(
            msgspec.structs.replace(config, agent=msgspec.structs.replace(config.agent, hub_url="")),
            log_finds=False,
        )
        self._task: asyncio.Task[None] | None = None
        self._known: frozenset[HubAdvert] = frozenset()

    def rivals(self) -> list[HubAdvert]:
        """The other hubs announcing this class now, the one that started first first."""
        return sorted(self._known, key=lambda a: preference(_candidate(a)))

    def text(self) -> str:
        """The warning sentence ("" while no other hub announces the class)."""
        return rival_sentence(self._config.class_.id, _candidate(self._own), self.rivals())

    async def start(self) -> None:
        """Start browsing (raises `smartsession.errors.AgentError` when zeroconf cannot bind)."""
        await self._browser.__aenter__()
        self._task = asyncio.create_task(self._watch(), name="rival hubs")

    async def stop(self) -> None:
        """Stop browsing."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._browser.close()

    async def _watch(self) -> None:
        while True:
            version = self._browser.version
            self._update()
            try:
                async with asyncio.timeout(REPEAT_SECONDS):
                    await self._browser.wait_changed(version)
            except TimeoutError:
                if self._known:
                    log.warning("still: %s", self.text())

    def _update(self) -> None:
        found = frozenset(
            c.advert
            for c in self._browser.candidates()
            if c.advert is not None and not self._is_own(c.advert)
        )
        if found == self._known:
            return
        gone = {(a.hub_id, a.address, a.port) for a in self._known} - {
            (a.hub_id, a.address, a.port) for a in found
        }
        self._known = found
        for hub_id, address, port in sorted(gone):
            log.info(
                "hub %r at %s:%d no longer announces class %r", hub_id, address, port, self._config.class_.id
            )
        if found:
            log.warning("%s", self.text())

    def _is_own(self, advert: HubAdvert) -> bool:
        own = self._own
        return (
            advert.port == own.port
            and advert.hub_id == own.hub_id
            and (advert.address in self._addresses or not self._addresses)
        )
