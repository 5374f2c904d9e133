"""The mobile web channel (码上办): what a browser posts on the page (web/mobile.py) becomes
`Inbound`s for the resident dialog, taken in order per browser; the replies the dialog keeps
in the outbox are what the page shows, and notices wait there for the resident to come back.

The browser is the resident: its id is the person's external id and chat. A poster's grid
code arrives as `/start grid_<code>`, as Telegram's deep links and WeChat's QR scenes do.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from bot.app import App, web_site
from bot.channels.toolkit import Lanes
from messages.types import Inbound, Kind
from web import mobile
from web.mobile import CHANNEL, Said


def inbounds(browser: str, said: Said) -> list[Inbound]:
    """The dialog's messages for one post: one per photo, else one."""

    def inbound(kind: Kind, mid: str = said.mid, **fields: object) -> Inbound:
        return Inbound(CHANNEL, browser, browser, kind, message_id=mid, **fields)  # type: ignore[arg-type]

    if said.start is not None:
        return [inbound(Kind.COMMAND, text="start", args=f"grid_{said.start}")]
    if said.photos:
        return [
            inbound(Kind.PHOTO, f"{said.mid}.{i}", data=data) for i, data in enumerate(said.photos)
        ]
    if said.latitude is not None:
        return [inbound(Kind.LOCATION, latitude=said.latitude, longitude=said.longitude)]
    if said.choice:
        return [inbound(Kind.BUTTON, text=said.choice)]
    return [inbound(Kind.TEXT, text=said.text)]


class WebChannel:
    """Takes a browser's posts through the dialog, one browser's in the order they came."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.lanes = Lanes()

    async def say(self, browser: str, said: Said) -> None:
        async with self.lanes.hold(browser):
            for inbound in inbounds(browser, said):
                await run_in_threadpool(self.app.dialog.handle, inbound)

    def routes(self) -> list[BaseRoute]:
        settings = self.app.settings
        return mobile.routes(
            web_site(self.app),
            self.say,
            settings=settings.channels.web,
            grids=settings.grids,
            photos_per_appeal=settings.limits.photos_per_appeal,
        )
