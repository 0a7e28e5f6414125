"""Files a user points us at: a regular file, read with a bound, refused with the file named."""

from __future__ import annotations

import os

import pytest

from otel_label_studio import config
from otel_label_studio.receiver.replay import read_files
from otel_label_studio.rules import RulesError, load_file, parse
from otel_label_studio.rules.language import MAX_DEPTH, MAX_NODES
from otel_label_studio.userfiles import RULES_LIMIT, UserFileError, read_bytes, read_text


def test_a_regular_file_within_the_limit_is_read_whole(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_bytes(b"x" * 100)
    assert read_bytes(str(path), what="rules file", limit=100) == b"x" * 100


@pytest.mark.parametrize("kind", ["device", "symlink", "fifo", "directory"])
def test_what_is_not_a_regular_file_is_refused_before_a_byte_is_read(tmp_path, kind):
    """A FIFO with no writer is refused at once (opened without blocking), /dev/zero without a read."""
    if kind == "device":
        path, what = "/dev/zero", "a character device"
    elif kind == "symlink":
        path, what = str(tmp_path / "link"), "a character device"
        os.symlink("/dev/zero", path)
    elif kind == "fifo":
        path, what = str(tmp_path / "fifo"), "a FIFO (named pipe)"
        os.mkfifo(path)
    else:
        path, what = str(tmp_path), "a directory"
    with pytest.raises(UserFileError) as error:
        read_bytes(path, what="rules file", limit=RULES_LIMIT)
    assert str(error.value) == f"rules file {path} is {what}, not a regular file (of at most 1 MiB)"


def test_a_file_over_the_limit_is_refused_naming_the_limit(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * 101)
    with pytest.raises(UserFileError) as error:
        read_bytes(str(path), what="rules file", limit=100)
    assert (
        str(error.value)
        == f"rules file {path} is larger than the 100 bytes limit for a rules file (101 bytes)"
    )


def test_a_file_that_says_it_is_empty_is_still_read_with_the_bound():
    """/proc files say 0 bytes: the read itself stops at the limit plus one."""
    with pytest.raises(UserFileError, match="is larger than the 10 bytes limit"):
        read_bytes("/proc/self/maps", what="capture file", limit=10)


def test_missing_and_not_utf8_files_say_so(tmp_path):
    with pytest.raises(UserFileError, match=r"rules file .*missing\.yaml cannot be read: No such file"):
        read_text(str(tmp_path / "missing.yaml"), what="rules file", limit=RULES_LIMIT)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"caf\xe9")
    with pytest.raises(UserFileError, match="is not UTF-8 text"):
        read_text(str(latin), what="rules file", limit=RULES_LIMIT)


def test_the_rules_file_the_label_config_and_captures_are_read_that_way(tmp_path):
    with pytest.raises(RulesError) as error:
        load_file("/dev/zero")
    assert (
        str(error.value)
        == "/dev/zero: the rules file is a character device, not a regular file (of at most 1 MiB)"
    )
    big = tmp_path / "rules.yaml"
    big.write_text("rules: []\n# " + "x" * RULES_LIMIT + "\n")
    with pytest.raises(RulesError, match="larger than the 1 MiB limit for a rules file"):
        load_file(str(big))
    with pytest.raises(ValueError, match="label config file /dev/zero is a character device.*4 MiB"):
        config.read_config_file("/dev/zero")
    with pytest.raises(ValueError, match="capture file /dev/zero is a character device.*256 MiB"):
        read_files(["/dev/zero"])


def test_a_rules_file_within_the_size_limit_cannot_make_a_large_or_deep_tree():
    """PyYAML composes each value as an object: 500,000 of them fit in 1 MiB (25 s, 450 MB)."""
    flat = "rules: [" + "x," * (MAX_NODES + 10) + "]\n"
    with pytest.raises(
        RulesError, match=rf"line 1: more than {MAX_NODES} values: too large for a rules file"
    ):
        parse(flat, "flat.yaml")
    deep = "rules: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    with pytest.raises(RulesError, match=rf"nested deeper than {MAX_DEPTH}"):
        parse(deep, "deep.yaml")
    very_deep = "[" * 100_000  # Python's recursion limit: an error, never a crash
    with pytest.raises(RulesError, match="nested deeper"):
        parse(very_deep, "very-deep.yaml")
