"""Print the path of a Python X.Y interpreter this machine has, for `make pythons` (the exit test's
environments), or exit 1 naming what was tried.

A ``pythonX.Y`` on PATH may be a pyenv shim that refuses to run when X.Y is not pyenv's global
version, so each candidate is run once; pyenv's own versions directory is looked in as well.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def candidates(version: str) -> list[str]:
    found = [shutil.which(f"python{version}") or ""]
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found += [
        str(path) for path in sorted((pyenv_root / "versions").glob(f"{version}.*/bin/python{version}"))
    ]
    found += [f"/usr/local/bin/python{version}", f"/usr/bin/python{version}"]
    return [path for path in found if path]


def runs_as(path: str, version: str) -> str | None:
    """The interpreter's real path when it runs and is ``version``, else None."""
    probe = "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)"
    try:
        done = subprocess.run([path, "-c", probe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2 or lines[0] != version:
        return None
    return lines[1]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m devtools.find_python X.Y", file=sys.stderr)
        return 2
    version = argv[0]
    tried = candidates(version)
    for path in tried:
        real = runs_as(path, version)
        if real:
            print(real)
            return 0
    print(f"no Python {version} found (tried: {', '.join(tried)})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
