"""Pytest fixtures: a real WordPress for the publisher tests.

``wordpress_site`` (session) is a :class:`WordPressSite` ``(url, user, app_password)``:

* from ``WARTA_TEST_WP_URL``, ``WARTA_TEST_WP_USER``, ``WARTA_TEST_WP_PASSWORD`` when set;
* otherwise ``scripts/wordpress-test-server.sh`` starts one on a temp dir and a free port,
  and it is stopped when the session ends.

When no WordPress can be had (the script needs root to install packages), the tests are
skipped with the reason, unless ``WARTA_REQUIRE_SERVERS=1``, where they fail instead.

``wordpress_server`` (session) is the :class:`WordPressServer` when this session started
it (tests may stop and restart it), or None for a site given by the environment.

Use them with ``from tests.wordpress_site import wordpress_server, wordpress_site``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "wordpress-test-server.sh"
START_TIMEOUT = 600  # a cold start installs Debian packages


class WordPressSite(NamedTuple):
    url: str
    user: str
    app_password: str


class WordPressServer:
    """A WordPress started by scripts/wordpress-test-server.sh in ``data_dir``."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.site: WordPressSite | None = None  # set by the first start()

    def start(self) -> WordPressSite:
        """Start, or restart after stop(): same port, same site, same password."""
        out = self._run(str(self.data_dir), str(self.port))
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.site = WordPressSite(values["WP_URL"], values["WP_USER"], values["WP_PASSWORD"])
        return self.site

    def stop(self) -> None:
        self._run("stop", str(self.data_dir))

    @staticmethod
    def _run(*args: str) -> str:
        done = subprocess.run(
            ["bash", str(SCRIPT), *args],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{SCRIPT.name} {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}"
            )
        return done.stdout


def _required() -> bool:
    return os.environ.get("WARTA_REQUIRE_SERVERS") == "1"


def _unavailable(reason: str) -> None:
    if _required():
        pytest.fail(f"WordPress required (WARTA_REQUIRE_SERVERS=1) but {reason}")
    pytest.skip(f"no WordPress for tests: {reason}")


def _can_run_script() -> str | None:
    """Why the script cannot work here, or None."""
    installed = (
        shutil.which("php") is not None
        and Path("/usr/share/wordpress/wp-settings.php").exists()
        and Path("/usr/sbin/mariadbd").exists()
    )
    if installed:
        return None
    if os.geteuid() != 0:
        return "packages (wordpress, php, mariadb) are missing and installing needs root"
    if shutil.which("apt-get") is None:
        return "packages are missing and there is no apt-get"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _site_from_env() -> WordPressSite | None:
    names = ("WARTA_TEST_WP_URL", "WARTA_TEST_WP_USER", "WARTA_TEST_WP_PASSWORD")
    values = [os.environ.get(name, "") for name in names]
    return WordPressSite(*values) if all(values) else None


@pytest.fixture(scope="session")
def _loopback_without_proxy() -> Iterator[None]:
    """requests would send loopback traffic to a proxy configured in the environment."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("NO_PROXY", "no_proxy"):
            current = os.environ.get(name, "")
            mp.setenv(name, ",".join(filter(None, [current, "127.0.0.1", "localhost"])))
        yield


@pytest.fixture(scope="session")
def wordpress_server(
    tmp_path_factory: pytest.TempPathFactory, _loopback_without_proxy: None
) -> Iterator[WordPressServer | None]:
    if _site_from_env() is not None:
        yield None
        return
    reason = _can_run_script()
    if reason:
        _unavailable(reason)
    server = WordPressServer(tmp_path_factory.mktemp("wordpress"), _free_port())
    try:
        server.start()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        try:  # whatever part did start
            server.stop()
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        _unavailable(f"the start script failed: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def wordpress_site(wordpress_server: WordPressServer | None) -> WordPressSite:
    site = _site_from_env()
    if site is not None:
        return site
    assert wordpress_server is not None and wordpress_server.site is not None
    return wordpress_server.site
