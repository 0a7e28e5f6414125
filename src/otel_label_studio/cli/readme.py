"""``python -m otel_label_studio.cli.readme docs/settings.md``: rewrite the settings tables of
docs/settings.md from the settings model (``config.readme_tables``); a test fails while they differ."""

from __future__ import annotations

import sys

from ..config import render_readme


def main(paths: list[str]) -> int:
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            old = handle.read()
        new = render_readme(old)
        if new != old:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(new)
            print(f"{path}: settings tables rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
