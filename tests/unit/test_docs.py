"""The documentation says what works: README.md and docs/*.md link only to files and headings that exist,
every ``otel-label-studio ...`` command shown in a code block parses with the real command line, and the
site (mkdocs.yml) builds with ``--strict``.

Anchors are checked against both slug rules a reader meets: GitHub's (README.md and docs/ on the
repository's pages) and MkDocs' (the site), so a heading linked to must give the same anchor in both.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shlex
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

from otel_label_studio.cli import build_parser
from tests.support.prerequisites import REPO_ROOT, missing

DOCS = REPO_ROOT / "docs"
PAGES = sorted([REPO_ROOT / "README.md", REPO_ROOT / "CHANGELOG.md", *DOCS.glob("*.md")])
FENCE = re.compile(r"^\s*(```+|~~~+)")
SNIPPET = re.compile(r'^\s*--8<--\s+"([^"]+)"\s*$')
# [text](target) and ![alt](target); a target has no spaces (an optional "title" after it is ignored)
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+).+?\1")
COMMAND_LANGUAGES = {"", "bash", "sh", "shell", "console"}
SHELL_OPERATORS = set("|&;<>()")


def relative(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of what is not inside a fenced code block."""
    lines, fence = [], None
    for number, line in enumerate(text.splitlines(), 1):
        opened = FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None:
            lines.append((number, line))
    return lines


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence
    language: str
    lines: list[str]


def code_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    current: Block | None = None
    fence = ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        opened = FENCE.match(line)
        if current is None and opened:
            fence = opened.group(1)
            info = line.strip()[len(fence) :].strip()
            current = Block(path, number, info.split()[0].lower() if info else "", [])
        elif current is not None and line.strip().startswith(fence):
            blocks.append(current)
            current = None
        elif current is not None:
            current.lines.append(line)
    assert current is None, f"{relative(path)}:{current.line}: a code block is never closed"
    return blocks


def snippet(spec: str) -> str:
    """What pymdownx.snippets puts in place of ``--8<-- "spec"``: a file, a section or lines of one."""
    name, _, rest = spec.partition(":")
    text = (REPO_ROOT / name).read_text(encoding="utf-8")
    if not rest:
        return text
    if re.fullmatch(r"\d*(:\d*)?", rest):
        start, _, end = rest.partition(":")
        lines = text.splitlines()
        return "\n".join(lines[int(start or 1) - 1 : int(end) if end else None])
    start_marker, end_marker = f"--8<-- [start:{rest}]", f"--8<-- [end:{rest}]"
    assert start_marker in text and end_marker in text, f"{name} has no section {rest!r} to include"
    return text.split(start_marker, 1)[1].split("\n", 1)[1].split(end_marker, 1)[0]


def expanded(path: Path) -> str:
    return "\n".join(
        snippet(m.group(1)) if (m := SNIPPET.match(line)) else line
        for line in path.read_text(encoding="utf-8").splitlines()
    )


def heading_text(line: str) -> str:
    text = line.lstrip("#").strip()
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    return text.replace("`", "").replace("**", "").strip()


def github_slug(text: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, each space a hyphen."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def mkdocs_slug(text: str) -> str:
    """Python-Markdown's toc.slugify, which MkDocs uses: ASCII, punctuation dropped, runs of
    spaces and hyphens one hyphen."""
    value = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def anchors(path: Path) -> set[str]:
    """Anchors a link may use: those both GitHub and MkDocs give the page's headings."""
    text = expanded(path) if path.is_relative_to(DOCS) else path.read_text(encoding="utf-8")
    found = set()
    for _, line in prose_lines(text):
        if re.match(r"^#{1,6} ", line):
            heading = heading_text(line)
            if github_slug(heading) == mkdocs_slug(heading):
                found.add(github_slug(heading))
    return found


def links(path: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for match in LINK.finditer(INLINE_CODE.sub("", line)):
            found.append((number, match.group(1)))
    return found


def test_the_pages_exist_and_have_links():
    assert DOCS.is_dir() and len(PAGES) > 10
    assert sum(len(links(page)) for page in PAGES) > 50


@pytest.mark.parametrize("page", PAGES, ids=relative)
def test_every_internal_link_and_anchor_exists(page: Path):
    broken = []
    for number, target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path_part, _, anchor = target.partition("#")
        where = f"{relative(page)}:{number}: {target}"
        resolved = Path(os.path.normpath(page.parent / path_part)) if path_part else page
        if not resolved.exists():
            broken.append(f"{where}: no such file")
            continue
        if page.is_relative_to(DOCS) and not resolved.is_relative_to(DOCS):
            # the site holds docs/ only: a link out of it is broken there (name such a file as code)
            broken.append(f"{where}: outside docs/, so not on the site")
            continue
        if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{where}: no heading with this anchor (in both GitHub's and MkDocs' slugs)")
    assert not broken, "\n".join(broken)


def test_the_slugs_are_computed_as_github_and_mkdocs_do():
    heading = heading_text("## Locked environments: `make lock` and `make test-newest`")
    assert (
        github_slug(heading) == mkdocs_slug(heading) == "locked-environments-make-lock-and-make-test-newest"
    )
    heading = heading_text("## Many replicas, one truth: `--state-url`")
    assert github_slug(heading) == "many-replicas-one-truth---state-url"
    assert mkdocs_slug(heading) == "many-replicas-one-truth-state-url"


def test_the_test_files_the_docs_name_exist():
    """A path such as tests/integration/test_report.py in the docs or a config names a real file."""
    named = [*PAGES, REPO_ROOT / "ARCHITECTURE.md", REPO_ROOT / "pyproject.toml", REPO_ROOT / "Makefile"]
    stale = [
        f"{relative(path)}: {name}"
        for path in named
        for name in sorted(set(re.findall(r"\btests/[\w/]+\.py\b", path.read_text(encoding="utf-8"))))
        if not (REPO_ROOT / name).exists()
    ]
    assert not stale, "\n".join(stale)


def test_every_included_snippet_exists():
    for page in DOCS.glob("*.md"):
        assert expanded(page)  # snippet() fails on a missing file or section


def commands() -> list[tuple[str, list[str]]]:
    """(where, argv after ``otel-label-studio``) of each command line in a code block."""
    found = []
    for page in PAGES:
        for block in code_blocks(page):
            if block.language not in COMMAND_LANGUAGES:
                continue
            logical: list[tuple[int, str]] = []
            pending = ""
            for offset, line in enumerate(block.lines, 1):
                if block.language == "console":
                    if not line.startswith("$ "):
                        continue
                    line = line[2:]
                pending += line.rstrip()
                if pending.endswith("\\"):
                    pending = pending[:-1] + " "
                    continue
                logical.append((block.line + offset, pending))
                pending = ""
            for number, line in logical:
                argv = shell_words(line)
                while argv and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):
                    argv.pop(0)  # VAR=value before the command
                if argv and Path(argv[0]).name == "otel-label-studio":
                    found.append((f"{relative(page)}:{number}: {line.strip()}", argv[1:]))
    return found


def shell_words(line: str) -> list[str]:
    """The words of one shell command line, up to a redirection, pipe or comment."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = []
    for word in lexer:
        if set(word) <= SHELL_OPERATORS:
            break
        words.append(word)
    return words


def test_the_command_lines_shown_are_found():
    shown = commands()
    assert len(shown) > 20, shown
    assert any("--help" in argv for _, argv in shown)


@pytest.mark.parametrize("where, argv", commands(), ids=lambda value: value if isinstance(value, str) else "")
def test_every_command_shown_parses(where: str, argv: list[str]):
    """Parsed by the real parser, not run. ``--help`` and ``--version`` must print and exit 0."""
    parser = build_parser()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            parser.parse_args(argv)
            status = None
        except SystemExit as stop:
            status = stop.code
    if {"-h", "--help", "--version"} & set(argv):
        assert status == 0 and out.getvalue(), f"{where}: {err.getvalue()}"
    else:
        assert status is None, f"{where}: does not parse: {err.getvalue().strip()}"


def test_the_site_builds_strictly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``mkdocs build --strict`` as ``make docs`` runs it, in this process, into a temporary directory."""
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        missing("mkdocs and mkdocs-material are not installed (the docs extra: make setup)")
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    monkeypatch.chdir(REPO_ROOT)  # pymdownx.snippets reads its base_path from the working directory
    monkeypatch.setenv("NO_MKDOCS_2_WARNING", "1")
    config = load_config(str(REPO_ROOT / "mkdocs.yml"), site_dir=str(tmp_path / "site"), strict=True)
    build(config)  # raises Abort on any warning in strict mode
    assert (tmp_path / "site" / "index.html").exists()
    assert (tmp_path / "site" / "settings" / "index.html").exists()
