"""The Bot API double, proven against the real python-telegram-bot stack.

Every test drives PTB's own HTTPXRequest, Updater and multipart encoding against the double
on loopback; nothing reaches Telegram.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import hashlib
import sys
import time
from collections.abc import AsyncIterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from telesim import BotApiDouble, ControlClient, application_builder, render_html, running

TOKEN = "5550001:double-test-token"
REPO = Path(__file__).resolve().parents[1]
App = Application[Any, Any, Any, Any, Any, Any]


@pytest.fixture(autouse=True)
def _loopback_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx honours HTTP(S)_PROXY; loopback must bypass any proxy of the environment.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    # Without it, PTB 22 warns (an error under our filterwarnings) on time-period attributes.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def double() -> AsyncIterator[BotApiDouble]:
    async with BotApiDouble(TOKEN) as api:
        yield api
    assert not api.errors, api.errors[-1]


def jpeg(width: int, height: int, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG")
    return out.getvalue()


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


def echo_app(double: BotApiDouble) -> App:
    app = double.app_builder().build()
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    return app


# --------------------------------------------------------------------------- polling


async def test_echo_over_long_polling(double: BotApiDouble) -> None:
    sari = double.user(1001, "Sari", username="sari_lapangan")
    async with double.running(echo_app(double)):
        sent = await double.send_text(sari, "Halo, ada banjir di Desa Sukamaju")
        reply = await double.wait_for_message(sari)
        second = await double.send_text(sari, "kedua")
        await double.wait_for_message(sari, contains="kedua")

    assert reply.text == "Halo, ada banjir di Desa Sukamaju"
    assert reply.from_bot and reply.sender["id"] == 5550001 and reply.sender["is_bot"]
    assert reply.chat == {
        "id": 1001,
        "type": "private",
        "first_name": "Sari",
        "username": "sari_lapangan",
    }
    sent_at = time.time()
    assert abs(reply.date - sent_at) < 60  # a real date, not 0 (PTB reads 0 as inaccessible)
    assert [m.message_id for m in double.messages(sari)] == [1, 2, 3, 4]
    assert sent.message_id == 1 and second.message_id == 3 and sent.update_id is not None
    assert [m.text for m in double.sent_to(sari)] == [sent.text, "kedua"]
    polls = double.calls_to("getUpdates")
    assert polls[0].params["timeout"] == 10  # PTB's default long-poll timeout reaches us
    assert {"getMe", "deleteWebhook"} <= {c.method for c in double.calls}
    assert not double.unhandled


async def test_group_command_with_bot_mention(double: BotApiDouble) -> None:
    it_team = double.group(-100777, "Tim IT Kecamatan")
    budi = double.user(1002, "Budi")

    async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None and update.effective_user is not None
        args = " ".join(context.args or [])
        await update.effective_chat.send_message(f"status {update.effective_user.id} {args}")

    app = double.app_builder().build()
    app.add_handler(CommandHandler("status", status))
    async with double.running(app):
        await double.send_command(budi, "status", "42", chat=it_team, mention=True)
        reply = await double.wait_for_message(it_team)
        await double.send_text(budi, "tanpa handler", chat=it_team)
        await double.settle(quiet=0.1)  # nothing answers plain text in this app

    assert reply.text == "status 1002 42"
    assert reply.chat["type"] == "supergroup" and reply.chat_id == -100777
    assert double.messages(it_team)[0].text == "/status@warta_test_bot 42"
    assert [m.text for m in double.sent_to(it_team)] == ["status 1002 42"]
    assert double.sent_to(budi) == []
    assert not double.unhandled


# --------------------------------------------------------------------------- files


async def test_photo_is_downloaded_byte_identical(double: BotApiDouble) -> None:
    sari = double.user(1001, "Sari")
    original = jpeg(1600, 1200)
    received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        file = await update.message.photo[-1].get_file()
        received.set_result(bytes(await file.download_as_bytearray()))
        await update.message.reply_text(f"{len(update.message.photo)} sizes")

    app = double.app_builder().build()
    app.add_handler(MessageHandler(filters.PHOTO, on_photo))
    async with double.running(app):
        sent = await double.send_photo(sari, original, caption="Banjir")
        await double.wait_for_message(sari, contains="sizes")

    assert await received == original
    sizes = sent.media["photo"]
    assert [(s["width"], s["height"]) for s in sizes] == [
        (90, 68),
        (320, 240),
        (800, 600),
        (1600, 1200),
    ]
    assert len({s["file_id"] for s in sizes}) == len({s["file_unique_id"] for s in sizes}) == 4
    assert sizes[-1]["file_size"] == len(original)
    assert double.downloads == [double.file(sizes[-1]["file_id"]).file_path]
    assert double.file(sizes[0]["file_id"]).read() != original  # a real thumbnail
    assert not double.unhandled


async def test_registered_file_on_disk_streams(double: BotApiDouble, tmp_path: Path) -> None:
    big = tmp_path / "rekaman.mp4"
    payload = hashlib.sha256(b"seed").digest() * (5 * 1024 * 1024 // 32)
    big.write_bytes(payload)
    file_id = double.register_file(big, kind="video", mime_type="video/mp4")
    target = tmp_path / "downloaded.mp4"

    async with double.app_builder().build() as app:
        file = await app.bot.get_file(file_id)
        assert file.file_size == len(payload)
        assert str(file.file_path).startswith(double.base_file_url)  # downloaded, not read
        await file.download_to_drive(target)

    assert target.read_bytes() == payload
    assert double.file(file_id).data is None  # served from disk, never loaded by the double


async def test_oversized_file_is_refused_without_download(double: BotApiDouble) -> None:
    sari = double.user(1001, "Sari")
    video = await double.send_video(sari, b"\x00" * 1024, "video 2 GB", file_size=2 * 1024**3)
    assert video.media["video"]["file_size"] == 2 * 1024**3

    async with double.app_builder().build() as app:
        with pytest.raises(BadRequest, match=r"(?i)too big"):
            await app.bot.get_file(video.media["video"]["file_id"])
    assert double.downloads == []


async def test_local_mode_returns_local_paths_and_lifts_the_cap() -> None:
    data = b"video bytes " * 1000
    async with BotApiDouble(TOKEN, local_mode=True) as api:
        sari = api.user(1001, "Sari")
        video = await api.send_video(sari, data, file_size=1500 * 1024 * 1024)
        async with api.app_builder().build() as app:
            file = await app.bot.get_file(video.media["video"]["file_id"])
            assert Path(str(file.file_path)).is_absolute()
            assert await file.download_as_bytearray() == data  # PTB read it from disk
        assert api.downloads == []


async def test_album_arrives_as_one_media_group(double: BotApiDouble) -> None:
    sari = double.user(1001, "Sari")
    seen: list[tuple[str | None, str | None]] = []

    async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        seen.append((update.message.media_group_id, update.message.caption))

    app = double.app_builder().build()
    app.add_handler(MessageHandler(filters.PHOTO, on_photo))
    async with double.running(app):
        album = await double.send_album(sari, [jpeg(50, 40), jpeg(40, 50), jpeg(60, 60)], "Rapat")
        await double.wait_until(lambda: len(seen) == 3)

    group_id = album[0].media_group_id
    assert group_id is not None and seen == [
        (group_id, "Rapat"),
        (group_id, None),
        (group_id, None),
    ]


async def test_user_edits_forwards_and_round_videos_reach_ptb(double: BotApiDouble) -> None:
    """What phones do besides sending: edit a caption, forward from a channel, record a
    round video; PTB sees edited_message, forward_origin and video_note."""
    sari = double.user(1001, "Sari")
    seen: list[Message] = []

    async def on_any(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        seen.append(update.effective_message)

    app = double.app_builder().build()
    app.add_handler(MessageHandler(filters.ALL, on_any))
    origin = {"type": "channel", "chat": {"id": -100777, "type": "channel",
                                          "title": "Info Desa Ampah"},
              "message_id": 7, "date": int(time.time()) - 60}
    async with double.running(app):
        photo = await double.send_photo(sari, jpeg(50, 40), "Dihadiri 30 orang")
        await double.edit_by_user(sari, photo, "Dihadiri 35 orang")
        with double.forwarded_from(origin):
            await double.send_text(sari, "Berita dari kanal")
        await double.send_video_note(sari, b"\x00\x00\x00\x18ftypmp42" + bytes(64))
        await double.wait_until(lambda: len(seen) == 4)

    first, edited, forwarded, round_video = seen
    assert first.caption == "Dihadiri 30 orang" and first.edit_date is None
    assert edited.message_id == first.message_id and edited.caption == "Dihadiri 35 orang"
    assert edited.edit_date is not None
    assert forwarded.forward_origin is not None
    assert forwarded.forward_origin.chat.title == "Info Desa Ampah"  # type: ignore[attr-defined]
    assert round_video.video_note is not None and round_video.video_note.length == 240
    assert double.updates[1].keys() == {"update_id", "edited_message"}


async def test_uploads_arrive_with_bytes(double: BotApiDouble) -> None:
    sari = double.user(1001, "Sari")
    photo, pdf, mp4 = jpeg(640, 480), b"%PDF-1.4 laporan", b"\x00\x00\x00\x18ftypmp42"
    async with double.app_builder().build() as app:
        sent_photo = await app.bot.send_photo(1001, photo, caption="<b>Foto</b>", parse_mode="HTML")
        sent_doc = await app.bot.send_document(1001, pdf, filename="laporan.pdf")
        sent_video = await app.bot.send_video(1001, mp4, filename="banjir.mp4", caption="Video")

    photo_call = await double.wait_for("sendPhoto")
    assert photo_call.files["photo"].data == photo
    doc_call = await double.wait_for("sendDocument")
    assert (
        doc_call.files["document"].data == pdf
        and doc_call.files["document"].filename == "laporan.pdf"
    )
    assert (await double.wait_for("sendVideo")).files["video"].data == mp4

    stored = double.sent_to(sari)
    assert [m.kind for m in stored] == ["photo", "document", "video"]
    assert [m.data for m in stored] == [photo, pdf, mp4]
    assert stored[0].caption == "<b>Foto</b>" and stored[0].plain == "Foto"
    # PTB parsed the results into proper objects
    assert sent_photo.photo[-1].width == 640 and sent_photo.caption == "Foto"
    assert sent_doc.document is not None and sent_doc.document.file_name == "laporan.pdf"
    assert sent_video.video is not None and sent_video.caption == "Video"
    assert not double.unhandled


async def test_media_group_with_attach_and_file_id(double: BotApiDouble) -> None:
    sari = double.user(1001, "Sari")
    editor = double.user(2001, "Dewi")
    from_officer = await double.send_photo(sari, jpeg(1024, 768, (0, 90, 200)))
    first, second = jpeg(400, 300), jpeg(300, 400, (10, 200, 10))
    officer_photo_id = from_officer.media["photo"][-1]["file_id"]

    async with double.app_builder().build() as app:
        album = await app.bot.send_media_group(
            editor.id,
            [
                InputMediaPhoto(first, caption="<i>Pratinjau</i>", parse_mode="HTML"),
                InputMediaPhoto(second),
                InputMediaPhoto(officer_photo_id),
            ],
        )

    call = await double.wait_for("sendMediaGroup")
    media = call.params["media"]
    assert [m["media"].startswith("attach://") for m in media] == [True, True, False]
    attached = {m["media"].removeprefix("attach://") for m in media[:2]}
    assert {call.files[name].data for name in attached} == {first, second}
    assert [m.data for m in call.messages] == [first, second, from_officer.data]
    assert len({m.media_group_id for m in call.messages}) == 1
    assert call.messages[0].plain == "Pratinjau"
    assert [m.message_id for m in album] == [1, 2, 3]
    assert album[2].photo[-1].file_id == officer_photo_id
    assert not double.unhandled


async def test_media_group_validation(double: BotApiDouble) -> None:
    double.user(1001, "Sari")
    async with double.app_builder().build() as app:
        with pytest.raises(BadRequest, match=r"(?i)2-10"):
            await app.bot.send_media_group(1001, [InputMediaPhoto(jpeg(10, 10))] * 11)
        with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
            await app.bot.send_media_group(1001, [InputMediaPhoto("nope"), InputMediaPhoto("no")])


# --------------------------------------------------------------------------- keyboards


async def test_inline_keyboard_callback_and_edit(double: BotApiDouble) -> None:
    sari = double.user(1001, "Sari")

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        keyboard = [
            [InlineKeyboardButton("Kirim", callback_data="send:7")],
            [InlineKeyboardButton("Batal", callback_data="cancel:7")],
        ]
        await update.message.reply_text("Draf #7", reply_markup=InlineKeyboardMarkup(keyboard))

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and isinstance(query.message, Message)
        await query.answer(f"ok {query.data}")
        await query.edit_message_text(f"Draf #7: {query.data}")

    app = double.app_builder().build()
    app.add_handler(CommandHandler("mulai", start))
    app.add_handler(CallbackQueryHandler(on_button))
    async with double.running(app):
        await double.send_command(sari, "mulai")
        card = await double.wait_for_message(sari)
        assert card.button_texts == ["Kirim", "Batal"]
        query = await double.click(sari, card, "Kirim")
        await double.wait_for("editMessageText")
        with pytest.raises(AssertionError, match=r"(?i)not on the message"):
            await double.press_button(sari, card, "send:7")  # keyboard is gone now
        forged = await double.press_button(sari, card, "send:999", forge=True)
        await double.wait_for("editMessageText")

    assert double.callback_answer(query["id"]) == {"text": "ok send:7"}
    assert double.callback_answer(forged["id"]) == {"text": "ok send:999"}
    assert card.text == "Draf #7: send:999" and card.buttons == []
    assert [h["text"] for h in card.history] == ["Draf #7", "Draf #7: send:7"]
    assert card.history[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "send:7"
    assert double.sent_to(sari) == [card]
    assert not double.unhandled


async def test_edit_errors_like_telegram(double: BotApiDouble) -> None:
    double.user(1001, "Sari")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Ambil", callback_data="claim")]])
    async with double.app_builder().build() as app:
        msg = await app.bot.send_message(1001, "Kartu", reply_markup=markup)
        with pytest.raises(BadRequest, match=r"(?i)not modified"):
            await app.bot.edit_message_text("Kartu", 1001, msg.message_id, reply_markup=markup)
        await app.bot.edit_message_reply_markup(1001, msg.message_id)  # removes the keyboard
        with pytest.raises(BadRequest, match=r"(?i)no caption"):
            await app.bot.edit_message_caption(1001, msg.message_id, caption="x")
        assert await app.bot.delete_message(1001, msg.message_id)
        with pytest.raises(BadRequest, match=r"(?i)not found"):
            await app.bot.edit_message_text("x", 1001, msg.message_id)
    stored = double.message(1001, msg.message_id)
    assert stored.deleted and stored.buttons == [] and double.sent_to(1001) == []


# --------------------------------------------------------------------------- text checks


async def test_html_chats_and_limits(double: BotApiDouble) -> None:
    sari = double.user(1001, "Sari")
    async with double.app_builder().build() as app:
        sent = await app.bot.send_message(1001, "<b>Judul</b> &amp; isi", parse_mode=ParseMode.HTML)
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await app.bot.send_message(1001, "a < b", parse_mode=ParseMode.HTML)
        with pytest.raises(BadRequest, match=r"(?i)too long"):
            await app.bot.send_message(1001, "x" * 4097)
        with pytest.raises(BadRequest, match=r"(?i)Chat not found"):
            await app.bot.send_message(4242, "siapa?")
        sari.blocked = True
        with pytest.raises(Forbidden, match=r"(?i)blocked"):
            await app.bot.send_message(1001, "halo")
        with pytest.raises(Forbidden, match=r"(?i)blocked"):
            await app.bot.send_chat_action(1001, "typing")

    assert sent.text == "Judul & isi" and sent.entities[0].type == "bold"
    stored = double.last_sent(sari)
    assert stored.text == "<b>Judul</b> &amp; isi" and stored.plain == "Judul & isi"
    assert render_html('<a href="https://x.id">🙂 tautan</a>')[1] == [
        {"type": "text_link", "offset": 0, "length": 9, "url": "https://x.id"}
    ]


async def test_set_my_commands_per_scope(double: BotApiDouble) -> None:
    async with double.app_builder().build() as app:
        await app.bot.set_my_commands([BotCommand("bantuan", "Bantuan")])
        await app.bot.set_my_commands(
            [BotCommand("antrian", "Queue"), BotCommand("pratinjau", "Preview")],
            scope=BotCommandScopeChat(2001),
            language_code="en",
        )
        fetched = await app.bot.get_my_commands(scope=BotCommandScopeChat(2001), language_code="en")
        with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
            await app.bot.set_my_commands([BotCommand("Bad-Name", "x")])
        await app.bot.delete_my_commands()

    chat_scope = {"type": "chat", "chat_id": 2001}
    assert double.commands(chat_scope, "en") == [
        {"command": "antrian", "description": "Queue"},
        {"command": "pratinjau", "description": "Preview"},
    ]
    assert double.commands(chat_scope) is None and double.commands() is None
    assert [c.command for c in fetched] == ["antrian", "pratinjau"]


# --------------------------------------------------------------------------- faults


async def test_injected_faults_reach_ptb(double: BotApiDouble) -> None:
    sari = double.user(1001, "Sari")
    double.fail_next("sendMessage", 1, status=429, retry_after=1)
    double.fail_next("sendMessage", 1, status=502)
    async with double.app_builder().build() as app:
        with pytest.raises(RetryAfter) as too_many:
            await app.bot.send_message(1001, "satu")
        with pytest.raises(NetworkError, match=r"(?i)Bad Gateway"):
            await app.bot.send_message(1001, "dua")
        await app.bot.send_message(1001, "tiga")

        double.hang_next("sendMessage", 1, seconds=0.5)
        with pytest.raises(TimedOut):
            await app.bot.send_message(1001, "empat", read_timeout=0.1)
        late = await double.wait_for("sendMessage", lambda c: c.text == "empat")

    assert too_many.value.retry_after == dtm.timedelta(seconds=1)
    failed = [c for c in double.calls_to("sendMessage") if not c.ok]
    assert [c.status for c in failed] == [429, 502]
    assert late.ok and [m.text for m in double.sent_to(sari)] == ["tiga", "empat"]


async def test_unhandled_method_and_wrong_token(double: BotApiDouble) -> None:
    double.user(1001, "Sari")
    async with double.app_builder().build() as app:
        # A 404 for an unknown method surfaces as InvalidToken from the typed API ...
        with pytest.raises(InvalidToken, match=r"(?i)sendDice is not implemented"):
            await app.bot.send_dice(1001)
        # ... and as EndPointNotFound from do_api_request.
        with pytest.raises(EndPointNotFound):
            await app.bot.do_api_request("wartaNoSuchMethod", api_kwargs={"chat_id": 1001})
    assert [c.method for c in double.unhandled] == ["sendDice", "wartaNoSuchMethod"]

    wrong = double.app_builder().token("999:wrong").build()
    with pytest.raises(InvalidToken):
        await wrong.initialize()
    # PTB leaves its HTTP client open when initialize() fails; close it to leak no socket.
    await wrong.bot.request.shutdown()


# --------------------------------------------------------------------------- getUpdates


async def test_get_updates_offset_limit_and_timeout(double: BotApiDouble) -> None:
    sari = double.user(1001, "Sari")
    for text in ("a", "b", "c"):
        await double.send_text(sari, text)
    async with double.app_builder().build() as app:
        first = await app.bot.get_updates(limit=2)
        rest = await app.bot.get_updates(offset=first[-1].update_id + 1)
        again = await app.bot.get_updates(offset=first[-1].update_id + 1)  # not confirmed yet
        began = time.monotonic()
        empty = await app.bot.get_updates(offset=rest[-1].update_id + 1, timeout=1)
        waited = time.monotonic() - began

    assert [u.message.text for u in first if u.message] == ["a", "b"]
    assert [u.message.text for u in rest if u.message] == ["c"]
    assert [u.update_id for u in again] == [rest[0].update_id]
    assert empty == () and 0.9 <= waited < 5  # held for the timeout, then released


async def test_allowed_updates_filter_and_raw_updates(double: BotApiDouble) -> None:
    sari = double.user(1001, "Sari")
    async with double.app_builder().build() as app:
        card = await app.bot.send_message(
            1001,
            "Kartu",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("Ambil", callback_data="claim")]]
            ),
        )
        stored = double.message(sari, card.message_id)
        await double.click(sari, stored, "Ambil")
        await double.send_update({"edited_message": (await double.send_text(sari, "x")).to_api()})
        only_messages = await app.bot.get_updates(allowed_updates=["message"])

    assert [u.message.text for u in only_messages if u.message] == ["x"]
    assert len(only_messages) == 1  # the callback query and the edit were never delivered


async def test_waiting_poll_is_released_on_stop() -> None:
    api = await BotApiDouble(TOKEN).start()
    async with api.app_builder().build() as app:
        poll = asyncio.create_task(app.bot.get_updates(timeout=30))
        await api.wait_until(lambda: any(c.method == "getUpdates" for c in api.calls))
        await api.stop()
        assert await asyncio.wait_for(poll, 3) == ()


async def test_webhook_mode_with_secret_token(double: BotApiDouble) -> None:
    sari = double.user(1001, "Sari")
    app = echo_app(double)
    async with double.running(app, webhook=True, secret_token="rahasia_123"):
        set_call = await double.wait_for("setWebhook")
        await double.send_text(sari, "lewat webhook")
        reply = await double.wait_for_message(sari)
        with pytest.raises(Conflict):
            await app.bot.get_updates()

    assert set_call.params["secret_token"] == "rahasia_123"
    assert str(double.webhook_url).startswith("http://127.0.0.1:")
    assert reply.text == "lewat webhook"
    assert double.webhook_errors == []  # PTB's server accepted the secret header
    assert not double.unhandled


# --------------------------------------------------------------------------- standalone


async def test_standalone_process_with_control_api() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telesim", "--port", "0", "--token", TOKEN,
        cwd=REPO, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        url = line.rsplit(" ", 1)[-1].strip()
        client = ControlClient(url)
        client.post("user", id=1001, first_name="Sari")
        app = application_builder(url, TOKEN).build()
        app.add_handler(MessageHandler(filters.TEXT, echo))
        async with running(app):
            # The client blocks; keep the event loop (and so the bot) running meanwhile.
            await asyncio.to_thread(client.post, "send_text", user=1001, text="dari luar")
            call = await asyncio.to_thread(client.wait_for, "sendMessage", 5.0, 1001)
        assert call["params"]["text"] == "dari luar" and call["status"] == 200
        messages = client.messages(1001)
        assert [(m["from_bot"], m["sent_text"]) for m in messages] == [
            (False, "dari luar"),
            (True, "dari luar"),
        ]
        assert "getMe" in {c["method"] for c in client.calls()}
        assert client.unhandled() == []
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
