"""The child processes of a test: the Bot API simulator and `warta run`."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from telesim import ControlClient

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "424242424:WARTA-fault-injection-token"
LOOPBACK = "127.0.0.1,localhost"


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("NO_PROXY", "no_proxy"):
        env[name] = ",".join(filter(None, [env.get(name, ""), LOOPBACK]))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DoubleProcess:
    """`python -m telesim --port 0 --token T` in a process of its own."""

    def __init__(self, log_path: Path, token: str = TOKEN) -> None:
        self.token = token
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.control: ControlClient

    def start(self, timeout: float = 30.0) -> DoubleProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "telesim", "--port", "0", "--token", self.token],
                stdout=subprocess.PIPE, stderr=log, cwd=ROOT, env=child_env())
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline().decode() if ready else ""
        match = re.search(r"listening on (http://\S+)", line)
        if match is None:
            self.stop()
            raise RuntimeError(f"the Bot API double did not start: {line!r}")
        self.process.stdout.close()
        self.url = match.group(1)
        self.control = ControlClient(self.url, timeout=60.0)
        return self

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def file_url(self) -> str:
        return f"{self.url}/file/bot"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class BotProcess:
    """`warta --config FILE run` as a child process: start, kill -9, stop."""

    def __init__(self, config: Path, log_path: Path, env: dict[str, str]) -> None:
        self.config = config
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0
        self.ended_by_us = False

    def start(self) -> None:
        assert not self.alive, "already running"
        script = Path(sys.executable).with_name("warta")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "warta.cli"]
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1} at {time.time():.3f}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [*command, "--config", str(self.config), "run"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.config.parent, env=self.env)
        self.starts += 1
        self.ended_by_us = False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, in whatever the bot was doing."""
        assert self.process is not None
        self.ended_by_us = True
        self.process.kill()
        self.process.wait()
        self.kills += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- killed (kill -9 #{self.kills}) at {time.time():.3f}\n".encode())

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait: the bot finishes the update in hand and exits 0."""
        if not self.alive:
            return self.process.returncode if self.process else 0
        assert self.process is not None
        self.ended_by_us = True
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"warta run did not stop within {timeout} s") from None

    def check(self) -> None:
        """Fails with the end of the log if the bot exited although nobody ended it."""
        if self.process is None or self.ended_by_us or self.process.poll() is None:
            return
        tail = "\n".join(self.log_text().splitlines()[-30:])
        raise AssertionError(f"warta run exited by itself (code {self.process.returncode}):"
                             f"\n{tail}")

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")
