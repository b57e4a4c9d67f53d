"""Telesim: a local Telegram Bot API simulator for the tests, the benchmarks and the demo."""

from telesim.control import ControlClient
from telesim.entities import render_html
from telesim.errors import ApiError, WaitTimeout
from telesim.proxy import RoundRobinProxy
from telesim.ptb import application_builder, running
from telesim.server import CLOUD_DOWNLOAD_LIMIT, DEFAULT_TOKEN, SEND_METHODS, BotApiDouble
from telesim.state import ApiCall, SimChat, SimUser, StoredFile, StoredMessage, UploadedFile

__all__ = [
    "CLOUD_DOWNLOAD_LIMIT",
    "DEFAULT_TOKEN",
    "SEND_METHODS",
    "ApiCall",
    "ApiError",
    "BotApiDouble",
    "ControlClient",
    "RoundRobinProxy",
    "SimChat",
    "SimUser",
    "StoredFile",
    "StoredMessage",
    "UploadedFile",
    "WaitTimeout",
    "application_builder",
    "render_html",
    "running",
]
