"""The aiohttp transport under PTB, over real sockets: PTB's own `Bot` on top of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from telegram import Bot
from telegram.error import Forbidden, NetworkError, RetryAfter, TimedOut

from bot.channels.telegram_http import AiohttpRequest
from tests.fakebotapi import TOKEN, FakeBotApi
from tests.threaded_server import free_port

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    api = FakeBotApi(max_poll_wait=0.05).start()
    yield api
    api.stop()


@pytest.fixture
async def silent_url() -> AsyncIterator[str]:
    """A server that takes connections and requests and never answers."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/bot{TOKEN}/getMe"
    server.close()


async def test_calls_and_uploads_arrive_as_sent(fake: FakeBotApi) -> None:
    async with Bot(TOKEN, base_url=fake.base_url, request=AiohttpRequest(connections=2)) as bot:
        sent = await bot.send_message(42, "您的诉求已受理", reply_markup=None)
        await bot.send_photo(42, photo=JPEG, caption="现场照片")
    assert sent.text == "您的诉求已受理"
    photo = fake.requests("sendPhoto")[0].params
    assert photo["photo"] == JPEG
    assert photo["caption"] == "现场照片"
    assert int(photo["chat_id"]) == 42


async def test_api_refusals_become_ptb_errors(fake: FakeBotApi) -> None:
    fake.blocked.add("42")
    fake.flood["sendMessage"] = [3]
    async with Bot(TOKEN, base_url=fake.base_url, request=AiohttpRequest(connections=1)) as bot:
        with pytest.raises(RetryAfter) as flood:
            await bot.send_message(7, "a")
        with pytest.raises(Forbidden):
            await bot.send_message(42, "b")
    assert flood.value.retry_after.total_seconds() == 3


async def test_unreachable_server_is_a_network_error_without_the_token() -> None:
    request = AiohttpRequest(connections=1)
    async with request:
        with pytest.raises(NetworkError) as caught:
            await request.post(f"http://127.0.0.1:{free_port()}/bot{TOKEN}/getMe")
    assert not isinstance(caught.value, TimedOut)
    assert TOKEN not in str(caught.value)


async def test_an_answer_that_never_comes_times_out(silent_url: str) -> None:
    async with AiohttpRequest(connections=1, read_timeout=0.2) as request:
        with pytest.raises(TimedOut):
            await request.post(silent_url)


async def test_waiting_for_a_free_connection_times_out(silent_url: str) -> None:
    limits = {"connect_timeout": 0.1, "pool_timeout": 0.1}  # aiohttp bounds both together
    async with AiohttpRequest(connections=1, **limits) as request:
        holder = asyncio.create_task(request.post(silent_url, read_timeout=5))
        await asyncio.sleep(0.1)  # the one connection is taken
        with pytest.raises(TimedOut):
            await request.post(silent_url, read_timeout=5)
        holder.cancel()


async def test_a_request_before_initialize_is_refused() -> None:
    with pytest.raises(NetworkError, match="not initialized"):
        await AiohttpRequest(connections=1).post("http://127.0.0.1:1/")


async def test_the_proxy_of_the_environment_is_used(
    fake: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    url = f"{fake.base_url}{TOKEN}/getMe"
    async with AiohttpRequest(connections=1) as request:
        with pytest.raises(NetworkError):  # the proxy does not answer: it was tried
            await request.post(url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # ...unless the host is exempt
    async with AiohttpRequest(connections=1) as request:
        assert (await request.post(url))["username"]


async def test_a_slow_download_is_bounded_per_read_only() -> None:
    """A photo that takes longer than all the timeouts together still arrives."""
    chunks = [bytes([n]) * 1000 for n in range(12)]

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        size = sum(map(len, chunks))
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
        for chunk in chunks:
            await asyncio.sleep(0.1)
            writer.write(chunk)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    limits = {"read_timeout": 0.5, "write_timeout": 0.1, "connect_timeout": 0.1}
    async with AiohttpRequest(connections=1, pool_timeout=0.1, **limits) as request:
        data = await request.retrieve(f"http://127.0.0.1:{port}/file/bot{TOKEN}/photo.jpg")
    server.close()
    assert data == b"".join(chunks)  # 1.2 s, where the timeouts add up to 0.8 s
