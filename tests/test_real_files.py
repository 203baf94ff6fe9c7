"""The oracle over real files nobody here wrote (tests/real_csv.py): each file goes through the edits people make
with the writers people use, and a restart with and without an edit; every report must equal csv.DictReader's.

The files are downloaded once into a cache. Without network and cache the tests skip, except with CI=true.
"""
import os
import random
import shutil

import pytest

import real_csv
from oracle import Watched, appending, atomic, check_edit, in_place, row_count, slow_rewrite, two_halves

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def real_files():
    try:
        return real_csv.fetch()
    except RuntimeError as error:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("the real CSV files are not cached and cannot be downloaded: %s" % error)


def edits(data, seed):
    """(description, new content, writer) for a sequence of edits of ``data``, chosen by ``seed``."""
    pick = random.Random(seed)
    line_end = b"\r" if b"\n" not in data else b"\n"

    def lines():
        return data.splitlines(True)

    def row():
        return pick.randrange(1, len(lines()))

    def edited(change):
        nonlocal data
        data = change(lines())
        return data

    def remove(parts, index):
        return b"".join(parts[:index] + parts[index + 1:])

    def mark(parts, index):
        index %= len(parts)
        return b"".join(parts[:index] + [b"X" + parts[index]] + parts[index + 1:])

    yield "delete a row", edited(lambda parts: remove(parts, row())), atomic
    yield "change a field", edited(lambda parts: mark(parts, row())), in_place
    yield "duplicate a row with cat >>", edited(lambda parts: data + parts[row()]), appending
    yield "slow rewrite changing a row", edited(lambda parts: mark(parts, row())), slow_rewrite
    yield "a row written in two halves", edited(lambda parts: data + b"new,row," + line_end), two_halves
    yield "first and last rows, sed -i", edited(lambda parts: mark(mark(parts, 1).splitlines(True), -1)), atomic


@pytest.mark.parametrize("name", sorted(real_csv.FILES))
def test_a_real_file_through_every_writer_and_restart(real_files, tmp_path, name):
    path = tmp_path / name
    shutil.copyfile(real_files[name], path)
    old = path.read_bytes()
    watched = Watched(path)
    watched.settle()
    assert watched.watcher.rows == row_count(old)

    for description, new, writer in edits(old, name):
        check_edit(watched, path, old, new, writer)
        old = new

    restarted = Watched(path, restored=old)
    restarted.settle()
    assert restarted.take() == ([], []), "a restart without an edit reported rows"
    # An edit while nothing runs: the restarted watcher reports it against the recorded content.
    new = b"".join(old.splitlines(True)[:-1])
    check_edit(Watched(path, restored=old), path, old, new, in_place)
