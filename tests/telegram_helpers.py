"""People talking to the bot through the real Telegram adapter and the fake Bot API."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.app import App
from bot.channels.telegram import TelegramChannel
from bot.settings import SendLimits
from scheduler.outbox import drain
from storage.db import transaction
from storage.roles import Role
from tests.fakebotapi import FakeBotApi, Updates
from workflow import staff

FAST = SendLimits(private_per_second=500, private_burst=50, overall_per_second=1000,
                  overall_burst=100, group_per_minute=6000, group_burst=100)  # fmt: skip
DESCRIPTION = "开发商延期交房半年了，房产证也一直办不下来，请住建部门处理"
Bot = tuple[FakeBotApi, TelegramChannel]  # the `bot` fixture: the fake Bot API and the channel
TURN_WITHIN = 10.0  # seconds a turn may take before a test fails
IMMEDIATE = "小区门口有流动摊贩占道经营，乱摆摊很严重，堵住了路"  # 即办: the center handles it


class Chat:
    """Someone talking to the bot, privately or in a group, and what the bot said there."""

    def __init__(self, bot: Bot, user_id: int, group: int | None = None) -> None:
        self.fake, self.channel = bot
        self.updates = Updates(self.fake, user_id)
        if group is not None:
            self.updates.chat = {"id": group, "type": "group", "title": "工作群"}
        self.chat_id = group if group is not None else user_id

    def last(self) -> dict[str, Any]:
        return dict(self.fake.sent(self.chat_id)[-1]["_message"])

    def buttons(self) -> dict[str, str]:
        markup = self.fake.sent(self.chat_id)[-1].get("reply_markup") or {}
        return {
            b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", ()) for b in row
        }

    async def send(self, update: dict[str, Any]) -> str:
        """Send an update; the turn's answer (a turn may answer with more than one message),
        once the channel says every update it took is answered."""
        count = len(self.fake.sent(self.chat_id))
        self.fake.push(update)
        await self.fake.wait_sent(self.chat_id, count + 1)  # the update was taken
        await asyncio.wait_for(self.channel.idle(), TURN_WITHIN)
        return "\n".join(self.fake.texts(self.chat_id)[count:])

    async def say(self, text: str) -> str:
        return await self.send(self.updates.text(text))

    async def press(self, label: str, message: dict[str, Any] | None = None) -> str:
        """Press the button `label` of `message`, or of the last message."""
        if message is None:
            message = self.last()
        return await self.send(self.updates.press(message, _button(message, label)))

    async def forge(self, data: str) -> str:
        """Press a button carrying `data` that the bot never offered this person."""
        return await self.send(self.updates.press(message_with(self, "forged", data), data))


def _button(message: dict[str, Any], label: str) -> str:
    markup = message.get("reply_markup") or {}
    return next(
        b["callback_data"] for row in markup["inline_keyboard"] for b in row if b["text"] == label
    )


def message_with(chat: Chat, label: str, data: str) -> dict[str, Any]:
    """A message in the chat carrying one button (as a card the bot sent would)."""
    keyboard = [[{"text": label, "callback_data": data}]]
    return {
        "message_id": 9,
        "date": 0,
        "chat": chat.updates.chat,
        "text": "card",
        "reply_markup": {"inline_keyboard": keyboard},
    }


async def deliver(app: App, channel: TelegramChannel) -> int:
    """Run the outbox drain, as the clock does, through the channel's sender."""
    return await asyncio.to_thread(drain, app.sessions, {"telegram": channel.outbox_sender()})


def invite(app: App, role: Role, department: str | None = None, grid: str | None = None) -> str:
    with transaction(app.sessions) as session:
        return staff.create_invite(session, role=role, department=department, grid=grid)


async def file_appeal(resident: Chat, text: str = DESCRIPTION) -> str:
    await resident.say("/new")
    await resident.say(text)
    await resident.press("跳过")
    await resident.say("幸福小区3栋")
    await resident.send(resident.updates.contact("13800138000"))
    return await resident.press("确认提交")
