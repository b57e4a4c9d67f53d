"""Fetching a file from Telegram to disk in chunks, never whole in memory."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import httpx
from telegram import File

from workflow.media.refusals import MediaRejected

CHUNK = 256 * 1024


async def download(client: httpx.AsyncClient, telegram_file: File, target: Path,
                   limit_bytes: int, *, local_mode: bool) -> None:
    """Writes the file to `target`, refusing it once it passes `limit_bytes` (declared
    sizes can lie). A self-hosted Bot API server in local mode hands out a local path."""
    source = telegram_file.file_path or ""
    if local_mode and Path(source).is_absolute():
        size = await asyncio.to_thread(os.path.getsize, source)
        if size > limit_bytes:
            raise MediaRejected("too_large", size_bytes=size, limit_bytes=limit_bytes,
                                limit_mb=round(limit_bytes / 2**20))
        await asyncio.to_thread(shutil.copyfile, source, target)
        return
    received = 0
    async with client.stream("GET", source) as response:
        response.raise_for_status()
        with target.open("wb") as sink:
            async for chunk in response.aiter_bytes(CHUNK):
                received += len(chunk)
                if received > limit_bytes:
                    raise MediaRejected("too_large", size_bytes=received,
                                        limit_bytes=limit_bytes,
                                        limit_mb=round(limit_bytes / 2**20))
                sink.write(chunk)
