"""A local Label Studio bound to loopback only, started the same way by ``make demo`` and by the test suite.

Its own SQLite data directory, a preset admin, legacy tokens enabled at organization creation,
sign-up closed, and webhooks allowed to reach serve on loopback (Label Studio refuses private
and loopback webhook targets by default). It runs in a session of its own, so stopping its
process group stops the workers it forks.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ADMIN_EMAIL = "admin@example.com"


def environment(data_dir: Path, *, password: str, legacy_token: str) -> dict[str, str]:
    env = {
        **os.environ,
        "LABEL_STUDIO_USERNAME": ADMIN_EMAIL,
        "LABEL_STUDIO_PASSWORD": password,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_USER_TOKEN": legacy_token,
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "USE_DEFAULT_BANNED_SUBNETS": "false",
    }
    env.pop("LABEL_STUDIO_API_KEY", None)  # ours, for the bridge: not a Label Studio setting
    return env


def command(binary: Path, port: int) -> list[str]:
    # The bind address is --internal-host (Label Studio's default is 0.0.0.0, every interface);
    # --host only names the URL it generates, and it ignores one without http://.
    return [str(binary), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port)]


def spawn(
    argv: list[str], env: dict[str, str], data_dir: Path, log_path: Path | None
) -> subprocess.Popen[bytes]:
    """Start it with its output appended to ``log_path``, from inside its data directory."""
    with open(log_path or os.devnull, "ab") as log:
        return subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=data_dir, start_new_session=True
        )
