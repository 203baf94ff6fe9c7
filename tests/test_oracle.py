"""Differential, property-based: for generated CSV files and edits, applied by every kind of writer while the
watcher ticks, what the watcher reports is exactly the multiset difference of csv.DictReader rows; with the
kernel's notifications (a write notification at each tick, a close at the end) a finished edit is reported in
full at the close.

The budget is CSV_MANAGER_ORACLE_EXAMPLES examples per test (default 300, a few seconds); raise it to search
longer, e.g. ``CSV_MANAGER_ORACLE_EXAMPLES=5000 pytest tests/test_oracle.py``. The diff's chunk, checkpoint
and block sizes are made tiny here, so that these small files cross every boundary a large file would.
"""
import csv
import functools
import io
import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from csv_manager.patterns.csv_watcher_pattern import csv_diff
from csv_manager.patterns.csv_watcher_pattern import records as records_module
from csv_manager.patterns.csv_watcher_pattern import version as version_module
from csv_manager.patterns.csv_watcher_pattern.csv_diff import diff
from csv_manager.patterns.csv_watcher_pattern.dialect import DELIMITERS, check_dialect
from csv_manager.patterns.csv_watcher_pattern.version import read
from oracle import WRITERS, Watched, check_edit, dictreader_rows, expected_change

EXAMPLES = int(os.environ.get("CSV_MANAGER_ORACLE_EXAMPLES", "300"))
budget = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
pytestmark = pytest.mark.timeout(600)

#: Characters that make CSV hard: separators, quotes, every line break csv knows and those it does not, a BOM.
AWKWARD = ',"\n\r \t\u2028\u2029\x85\x0b\x0c\x1c\x1e\ufeff'
#: Without quotes and CR: files made only of these take the diff's fast path for plain text.
PLAIN = ",\n \t\u2028\x85\x0c\ufeff"
#: Lines as a careless writer makes them: unquoted text with stray quotes, or nothing (a blank line).
RAW = 'ab,"\t\ufeff '
line_ends = st.sampled_from(["\n", "\r\n", "\r"])


def _strategies_by_plainness(make):
    """{plain: make(plain)} for both values: strategies built once, not at every draw (Hypothesis validates each
    new strategy object, which was a quarter of these tests' time)."""
    return {plain: make(plain) for plain in (False, True)}


#: A row's cells: text of the characters a (plain) file may hold.
CELLS = _strategies_by_plainness(lambda plain: st.lists(
    st.text(alphabet=st.sampled_from("ab1é€😀" + (PLAIN.replace("\n", "") if plain else AWKWARD)), max_size=6),
    min_size=1, max_size=4))
#: A raw line's text, without its line end.
RAW_TEXT = _strategies_by_plainness(lambda plain: st.text(
    alphabet=st.sampled_from(RAW.replace('"', "") if plain else RAW), max_size=8))


@pytest.fixture(scope="module", autouse=True)
def tiny_boundaries():
    """Chunks of 8 bytes, a checkpoint every 4 bytes and blocks of 2 (module-scoped: Hypothesis runs many
    examples in one test call)."""
    sizes = {(records_module, "CHUNK"): 8, (version_module, "PLAIN_CHUNK"): 8,
             (records_module, "CHECKPOINT_BYTES"): 4, (csv_diff, "BLOCK"): 2}
    saved = {(module, name): getattr(module, name) for module, name in sizes}
    for (module, name), size in sizes.items():
        setattr(module, name, size)
    yield
    for (module, name), size in saved.items():
        setattr(module, name, size)


@functools.lru_cache(maxsize=None)
@st.composite
def records(draw, line_end, plain):
    """One record's text with its line end: a row written by csv.writer, or a raw or blank line. ``plain``
    records hold no quote or CR (csv.writer quotes a field with a newline, so those have none either). One
    strategy per arguments (see _strategies_by_plainness)."""
    if draw(st.integers(0, 9)) < 8:
        stream = io.StringIO(newline="")
        csv.writer(stream, lineterminator=line_end).writerow(draw(CELLS[plain]))
        if not plain or '"' not in stream.getvalue():
            return stream.getvalue()
    return draw(RAW_TEXT[plain]) + line_end


@st.composite
def csv_files(draw, plain=None):
    """A whole non-empty file: optional BOM, a header, rows (some repeated), any line end, final newline or
    not; a third of them plain (no quote, no CR)."""
    plain = draw(st.integers(0, 2)) == 0 if plain is None else plain
    line_end = "\n" if plain else draw(line_ends)
    body = draw(st.lists(records(line_end, plain), max_size=8))
    if body and draw(st.booleans()):
        body += draw(st.lists(st.sampled_from(body), max_size=3))
    text = draw(records(line_end, plain)) + "".join(body)
    if text.endswith(line_end) and draw(st.booleans()):
        text = text[:-len(line_end)]
    # An empty file is not a state but a gap (README: "How watching works"); tests of it are in test_watcher.py.
    return ("\ufeff" if draw(st.booleans()) else "") + (text or line_end)


@st.composite
def edits(draw, content):
    """New content for ``content``: rows or copies of its lines appended, a line removed, replaced or repeated,
    or a new file. Edits of a plain file stay plain, mostly."""
    plain = all(character not in content for character in '"\r') and draw(st.integers(0, 9)) > 0
    line_end = "\n" if plain else draw(line_ends)
    lines = content.splitlines(True)
    kind = draw(st.sampled_from(["append", "append copies", "remove", "replace", "repeat", "insert", "new file"]))
    if kind == "append" or len(lines) < 2:
        return content + "".join(draw(st.lists(records(line_end, plain), min_size=1, max_size=3)))
    if kind == "append copies":
        return content + "".join(draw(st.lists(st.sampled_from(lines + [line_end]), min_size=1, max_size=3)))
    if kind == "new file":
        return draw(csv_files(plain))
    index = draw(st.integers(1, len(lines) - 1))
    if kind == "remove":
        del lines[index]
    elif kind == "replace":
        lines[index] = draw(records(line_end, plain))
    elif kind == "repeat":
        lines.insert(draw(st.integers(1, len(lines))), lines[index])
    else:
        lines.insert(index, draw(records(line_end, plain)))
    return "".join(lines)


@st.composite
def histories(draw):
    """A first file, then a few edits, each with its writer, whether csv_watcher_run restarts before it and
    whether the watcher gets notifications during it."""
    first = draw(csv_files())
    steps, content = [], first
    for _ in range(draw(st.integers(1, 4))):
        content = draw(edits(content))
        steps.append((content, draw(st.sampled_from(sorted(WRITERS))), draw(st.booleans()), draw(st.booleans())))
    return first, steps


@budget
@given(histories())
# Found by this test: bytes appended to a last row without its newline, then a copy of that row. Reporting the
# first half as a finished append made the row go missing and come back.
@example(('""\n""', [('""\n"",,,\n""\n', "slow_rewrite", False, False)]))
@example(('""\n""', [('""\n""""\n""\n', "two_halves", False, False)]))
def test_every_report_equals_the_dictreader_difference(tmp_path_factory, history):
    path = tmp_path_factory.mktemp("oracle") / "f.csv"
    first, steps = history
    old = first.encode()
    path.write_bytes(old)
    watched = Watched(path)
    watched.settle()
    assert watched.baselines == [old]
    assert watched.watcher.rows == len(dictreader_rows(old))
    for content, writer, restart, notified in steps:
        new = content.encode()
        if restart:
            watched = Watched(path, restored=old)
        check_edit(watched, path, old, new, WRITERS[writer], notified)
        old = new


@budget
@given(csv_files(), st.booleans())
def test_a_restart_without_an_edit_reports_nothing(tmp_path_factory, content, settled_first):
    path = tmp_path_factory.mktemp("restart") / "f.csv"
    data = content.encode()
    path.write_bytes(data)
    watched = Watched(path, restored=data)
    if settled_first:
        watched.settle()
    else:
        watched.watcher.check()
    assert watched.take() == ([], []) and watched.baselines == []
    assert watched.watcher.rows == len(dictreader_rows(data))


@budget
@given(st.sampled_from(sorted(DELIMITERS.values())),
       st.sampled_from(["utf-8", "cp1252", "latin-1", "utf-16", "utf-16-le", "utf-32-be", "cp500"]), csv_files(),
       st.data())
def test_every_dialect_is_read_and_compared_as_dictreader_reads_it(delimiter, encoding, first, data):
    """The generated files with ``delimiter`` and ``,`` swapped (a bijection, so they are as awkward in that
    dialect as the originals are with commas), in ``encoding`` (characters it lacks written as ``?``)."""
    swap = str.maketrans({",": delimiter, delimiter: ","})
    old, new = (text.translate(swap).encode(encoding, errors="replace") for text in (first, data.draw(edits(first))))
    dialect = check_dialect(delimiter, encoding)
    version = read(old, dialect)
    assert version.rows == len(dictreader_rows(old, dialect))
    change, version = diff(version, new)
    key, expected_new, expected_missing = expected_change(old, new, dialect)
    assert (Counter(map(key, change.new_rows)), Counter(map(key, change.missing_rows))) == (
        expected_new, expected_missing)
    assert version.rows == len(dictreader_rows(new, dialect))
    assert change.patch.apply(old) == new and version.data == new
