"""The reporter writes a line in pieces, so that a row with a huge field is not copied whole again; the line
is still exactly the documented text: ``repr`` of the row, ``'OLD' -> 'NEW'`` for a changed field."""
import datetime
import json

import pytest

from csv_manager.plugins.csv_watcher_db_plugin import reporter
from csv_manager.plugins.csv_watcher_db_plugin.reporter import Reporter, record_events

PATH = "/data/prices.csv"
ROWS = [
    {"id": "1", "price": "1.00"},
    {},
    {"id": "it's", "note": 'say "hi"', "text": "caf\u00e9\n\u2028\\"},
    {"id": "3", "price": None, None: ["extra", "values"]},
]
CHANGED = {"key": {"id": "3"}, "changes": {"price": ["1.00", "2.00"], "qty": [None, "4"]},
           "row": {"id": "3", "price": "2.00", "qty": "4"}}


def record(**rows):
    return dict({"csv_file": PATH, "event": "change", "columns": None, "new_rows": [], "missing_rows": [],
                 "changed_rows": [], "seen_at": datetime.datetime(2026, 12, 1, 10, 0, 0, 123000), "rows": 3},
                **rows)


def texts(rows):
    return ["".join(text) for text, _ in record_events(record(**rows))]


def test_a_row_text_is_the_rows_repr():
    assert texts({"new_rows": ROWS}) == ["%s has new row: %s" % (PATH, row) for row in ROWS]
    assert texts({"missing_rows": ROWS[:1]}) == ["%s is missing row: %r" % (PATH, ROWS[0])]


def test_a_changed_row_names_each_changed_field_old_and_new():
    assert texts({"changed_rows": [CHANGED]}) == [
        "%s has changed row id=3: price '1.00' -> '2.00', qty None -> '4'" % PATH]


@pytest.mark.parametrize("as_json", [False, True])
def test_a_field_longer_than_a_piece_is_printed_whole(capsys, monkeypatch, as_json):
    monkeypatch.setattr(reporter, "PIECE", 7)
    row = {"id": "1", "text": "x" * 50 + "\u00e9" * 20}
    Reporter(as_json, timestamps=True, on_broken_pipe=None).change(None, **record(new_rows=[row], missing_rows=[]))
    line = capsys.readouterr().out
    if as_json:
        assert json.loads(line)["row"] == row
    else:
        assert line == "2026-12-01T10:00:00.123Z %s has new row: %r\n" % (PATH, row)
