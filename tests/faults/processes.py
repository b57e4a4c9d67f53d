"""The child processes of a test: the Bot API simulator and `warta run`."""

from __future__ import annotations

import multiprocessing
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


# `warta run` is started again after every kill -9, well over a hundred times in a fault
# run. A fresh interpreter spends a second or more of each life importing Python
# modules (PTB, SQLAlchemy, Pillow, the product) before it does anything a crash could
# hurt. So each life is forked from a server that imported them once: from there on it is
# the same `warta --config FILE run` (the CLI's main, its own pid, environment, working
# directory and log), and kill -9 ends it the same way.
PRELOADED = ["warta.cli", "warta.wiring", "workflow.logs"]
_forks = multiprocessing.get_context("forkserver")
_forks.set_forkserver_preload(PRELOADED)


def _warta_main(args: list[str], log_path: str, env: dict[str, str], cwd: str) -> None:
    """The child's body: what `warta ARGS` does, output appended to `log_path`."""
    from warta.cli import main

    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    code = main(args)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


class ForkedProcess:
    """The part of `subprocess.Popen` BotProcess uses, for a multiprocessing child."""

    def __init__(self, process: multiprocessing.process.BaseProcess) -> None:
        self._process = process

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def kill(self) -> None:
        self._process.kill()

    def send_signal(self, number: int) -> None:
        assert self._process.pid is not None
        os.kill(self._process.pid, number)

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        code = self._process.exitcode
        if code is None:
            raise subprocess.TimeoutExpired("warta run", timeout or 0.0)
        return code


class BotProcess:
    """`warta --config FILE run` as a child process: start, kill -9, stop."""

    def __init__(self, config: Path, log_path: Path, env: dict[str, str]) -> None:
        self.config = config
        self.log_path = log_path
        self.env = env
        self.process: ForkedProcess | None = None
        self.starts = 0
        self.kills = 0
        self.ended_by_us = False

    def start(self) -> None:
        assert not self.alive, "already running"
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1} at {time.time():.3f}\n".encode())
        child = _forks.Process(target=_warta_main, name="warta run", args=(
            ["--config", str(self.config), "run"], str(self.log_path), self.env,
            str(self.config.parent)))
        child.start()
        self.process = ForkedProcess(child)
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
