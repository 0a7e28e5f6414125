"""A damaged spool file: the error names the file and what is wrong, and the ``mv`` it gives works as
given in a shell (a child process, hence here and not in tests/unit)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from otel_label_studio.store.durable import DamagedFile
from otel_label_studio.store.spool import Spool
from tests.support.spools import overwrite, real_spool


@pytest.mark.parametrize(
    ("damage", "wrong"),
    [
        (overwrite, "is not an SQLite database"),
        (lambda path: os.truncate(path, os.path.getsize(path) // 2), "is corrupt"),
        (lambda path: os.truncate(path, 4096), "is corrupt"),
    ],
    ids=["garbage", "truncated-half", "truncated-first-page"],
)
def test_a_damaged_spool_says_which_file_what_is_wrong_and_how_to_move_it_aside(tmp_path, damage, wrong):
    path = real_spool(tmp_path / "data")
    damage(path)
    with pytest.raises(DamagedFile) as error:
        Spool.in_directory(str(tmp_path / "data"))
    message = str(error.value)
    assert f"the spool file {path} is damaged: it {wrong}" in message
    (command,) = re.findall(r"mv \S+ \S+$", message)
    subprocess.run(command, shell=True, check=True)  # the command works as given
    assert not os.path.exists(path)
    assert Spool.in_directory(str(tmp_path / "data")).stats().depth == 0
