"""Per-watcher options through the real csv_manager: keys (changed rows), column changes, and the dialects
Excel and others write (semicolons, tabs, cp1252, CRLF)."""
import json
import os

import pytest

from helpers import append, forked_run
from csv_manager.applications import CsvManagerApp
from csv_manager.patterns.csv_watcher_pattern.dialect import Dialect

pytestmark = pytest.mark.timeout(120)

#: What Excel writes as "CSV" where the decimal separator is a comma: semicolons, cp1252 and CRLF.
EXCEL = "Artikel;Preis;Menge\r\nKäse;1,50 €;5\r\nBrötchen;0,40 €;12\r\n"


def rewrite(path, text, encoding="utf-8"):
    """Replace the file's content atomically, as an editor or exporter saves."""
    temporary = "%s.tmp" % path
    with open(temporary, "w", encoding=encoding, newline="") as stream:
        stream.write(text)
    os.replace(temporary, path)


def test_a_key_turns_an_edit_into_one_changed_row_naming_the_changed_fields(cli, tmp_path, forked_running):
    prices = tmp_path / "prices.csv"
    prices.write_text("id,price,qty\n1,1.00,5\n3,1.00,5\n")
    assert cli("csv_watcher_add", prices, "--key", "id", "-i", "1").exit_code == 0
    watcher = forked_running("--json")
    watcher.expect('"event": "watching"')
    rewrite(prices, "id,price,qty\n1,1.00,5\n3,2.00,4\n")
    report = json.loads(watcher.expect('"changed"')[-1])
    assert {name: report[name] for name in ("csv_file", "event", "change", "key", "changes", "row")} == {
        "csv_file": str(prices), "event": "changed", "change": "changed", "key": {"id": "3"},
        "changes": {"price": ["1.00", "2.00"], "qty": ["5", "4"]}, "row": {"id": "3", "price": "2.00", "qty": "4"}}
    assert watcher.stop() == 0
    history = forked_run("csv_history", prices)
    assert history.stdout.splitlines()[1:] == [
        "%s has changed row id=3: price '1.00' -> '2.00', qty '5' -> '4'" % prices]


def test_a_key_missing_from_the_header_is_refused_at_add_with_exit_2(tmp_path, store):
    prices = tmp_path / "prices.csv"
    prices.write_text("id,price\n1,1.00\n")
    added = forked_run("csv_watcher_add", prices, "--key", "sku")
    assert added.returncode == 2
    assert "Invalid value for '--key': 'sku' not in the header of %s: ['id', 'price']" % prices in added.stderr
    assert "Traceback" not in added.stderr
    assert store.rows() == []


@pytest.mark.parametrize("option, value, message", [
    ("--delimiter", "::", "'::' is not one of ',' ';' '|' 'tab'"),
    ("--encoding", "rot13", "'rot13' is not a text encoding"),
    ("--encoding", "klingon", "there is no encoding 'klingon'")])
def test_a_dialect_that_cannot_be_read_is_refused_with_exit_2(home, csv_file, option, value, message):
    added = forked_run("csv_watcher_add", csv_file, option, value)
    assert (added.returncode, added.stdout) == (2, "")
    assert message in added.stderr


def test_options_are_stored_and_listed(cli, store, tmp_path):
    excel = tmp_path / "excel.csv"
    excel.write_bytes(EXCEL.encode("cp1252"))
    added = forked_run("csv_watcher_add", excel, "--delimiter", ";", "--encoding", "Windows-1252", "--key", "Artikel")
    assert added.returncode == 0, added.stderr
    listed = json.loads(forked_run("csv_watcher_list", "--json").stdout)
    assert [(watcher["key"], watcher["delimiter"], watcher["encoding"]) for watcher in listed] == [
        (["Artikel"], ";", "cp1252")]
    assert forked_run("csv_watcher_list").stdout == (
        "file: %s - interval: 10 - key: Artikel - delimiter: ';' - encoding: cp1252\n" % excel)


def test_an_excel_export_is_read_as_excel_wrote_it(cli, tmp_path, forked_running):
    excel = tmp_path / "excel.csv"
    excel.write_bytes(EXCEL.encode("cp1252"))
    assert cli("csv_watcher_add", excel, "--delimiter", ";", "--encoding", "cp1252", "--key", "Artikel",
               "-i", "1").exit_code == 0
    watcher = forked_running()
    watcher.expect("watching %s (2 rows" % excel)
    rewrite(excel, EXCEL.replace("1,50 €", "1,80 €") + "Äpfel;2,00 €;3\r\n", encoding="cp1252")
    watcher.expect_all(["%s has new row: {'Artikel': 'Äpfel', 'Preis': '2,00 €', 'Menge': '3'}" % excel,
                        "%s has changed row Artikel=Käse: Preis '1,50 €' -> '1,80 €'" % excel])
    assert watcher.stop() == 0
    assert not [line for line in watcher.lines("stderr") if "WARNING" in line]


def test_excels_unicode_text_utf16_is_watched_and_its_versions_shown_byte_exact(cli, tmp_path, forked_running):
    """Excel's "Unicode Text" export: UTF-16 little-endian with a BOM, tab-separated, CRLF, saved atomically."""
    export = tmp_path / "export.txt"
    first = "\ufeffArtikel\tPreis\tMenge\r\nKäse\t1,50 €\t5\r\nBrötchen\t0,40 €\t12\r\n"
    export.write_bytes(first.encode("utf-16-le"))
    assert cli("csv_watcher_add", export, "--delimiter", "tab", "--encoding", "utf-16", "--key", "Artikel",
               "-i", "1").exit_code == 0
    watcher = forked_running()
    watcher.expect("watching %s (2 rows" % export)
    second = first.replace("1,50 €", "1,80 €") + "Äpfel\t2,00 €\t3\r\n"
    rewrite(export, second, encoding="utf-16-le")
    watcher.expect_all(["%s has new row: {'Artikel': 'Äpfel', 'Preis': '2,00 €', 'Menge': '3'}" % export,
                        "%s has changed row Artikel=Käse: Preis '1,50 €' -> '1,80 €'" % export])
    assert watcher.stop() == 0
    assert not [line for line in watcher.lines("stderr") if "WARNING" in line]
    shown = cli("csv_history", export, "--show", "1")
    assert (shown.exit_code, shown.stdout_bytes) == (0, second.encode("utf-16-le"))
    diffed = cli("csv_history", export, "--diff", "1")
    assert diffed.exit_code == 0 and diffed.stdout == "", "version 1 is the newest recorded content"


def test_a_tab_separated_file(cli, tmp_path, forked_running):
    tsv = tmp_path / "data.tsv"
    tsv.write_text("id\tnote\n1\ta, b\n")
    assert cli("csv_watcher_add", tsv, "--delimiter", "tab", "-i", "1").exit_code == 0
    watcher = forked_running()
    watcher.expect("watching %s (1 rows" % tsv)
    append(tsv, "2\tc; d\n")
    watcher.expect("%s has new row: {'id': '2', 'note': 'c; d'}" % tsv)


def test_a_file_that_looks_semicolon_separated_is_warned_about_naming_the_option(tmp_path):
    excel = tmp_path / "excel.csv"
    excel.write_bytes(EXCEL.encode("cp1252"))
    added = forked_run("csv_watcher_add", excel, "--encoding", "cp1252")
    assert added.returncode == 0
    assert "looks ;-separated" in added.stderr and "--delimiter ';'" in added.stderr


def test_a_new_column_is_one_columns_event_and_no_row(cli, tmp_path, forked_running):
    people = tmp_path / "people.csv"
    people.write_text("id,name,fax\n1,Ada,123\n2,Grace,456\n")
    assert cli("csv_watcher_add", people, "-i", "1").exit_code == 0
    watcher = forked_running("--json")
    watcher.expect('"event": "watching"')
    rewrite(people, "id,name,email\n1,Ada,ada@x\n2,Grace,grace@x\n")
    report = json.loads(watcher.expect('"columns"')[-1])
    assert {name: report[name] for name in ("event", "added", "removed", "reordered")} == {
        "event": "columns", "added": ["email"], "removed": ["fax"], "reordered": False}
    rewrite(people, "email,name,id\nada@x,Ada,1\ngrace@x,Grace,2\n")
    report = json.loads(watcher.expect('"columns"')[-1])
    assert (report["added"], report["removed"], report["reordered"]) == ([], [], True)
    assert watcher.stop() == 0
    assert [event["event"] for event in watcher.events()] == ["watching", "columns", "columns"]
    history = forked_run("csv_history", people).stdout.splitlines()
    assert [line for line in history if "columns" in line] == [
        "%s columns reordered: ['email', 'name', 'id']" % people,
        "%s columns added: ['email']; removed: ['fax']" % people]


def test_update_changes_how_a_file_is_read_and_a_running_runner_follows(cli, tmp_path, forked_running):
    excel = tmp_path / "excel.csv"
    excel.write_bytes(EXCEL.encode("cp1252"))
    assert cli("csv_watcher_add", excel, "--encoding", "cp1252", "-i", "1").exit_code == 0
    runner = forked_running()
    runner.expect("watching %s (2 rows" % excel)
    updated = forked_run("csv_watcher_update", excel, "--delimiter", ";", "--key", "Artikel")
    assert updated.stdout == ("Watcher for %s now reads it with key: Artikel - delimiter: ';' - encoding: cp1252 "
                              "(was delimiter: ',' - encoding: cp1252)\n" % excel)
    runner.expect("watching %s (2 rows" % excel)  # restarted from the recorded content, read anew
    rewrite(excel, EXCEL.replace("1,50 €", "1,80 €"), encoding="cp1252")
    runner.expect("%s has changed row Artikel=Käse: Preis '1,50 €' -> '1,80 €'" % excel)
    assert runner.finish() == 0
    unchanged = forked_run("csv_watcher_update", excel, "--delimiter", ";")
    assert unchanged.stdout == ("Watcher for %s unchanged: every 1 s, key: Artikel - delimiter: ';' - encoding: "
                                "cp1252\n" % excel)


def test_a_header_longer_than_what_add_reads_is_not_taken_for_a_shorter_one(cli, tmp_path, monkeypatch):
    from csv_manager.plugins.csv_watcher_db_plugin import watcher_options

    monkeypatch.setattr(watcher_options, "HEADER_BYTES", 8)  # "id,price" of "id,price,qty"
    prices = tmp_path / "prices.csv"
    prices.write_text("id,price,qty\n1,1.00,5\n")
    added = cli("csv_watcher_add", prices, "--key", "qty")
    assert added.exit_code == 0, added.output


def test_a_watcher_handed_over_is_registered_again_with_its_key_and_dialect(cli, tmp_path):
    prices = tmp_path / "prices.csv"
    prices.write_bytes(b"id;price\n1;1,00\n")
    assert cli("csv_watcher_add", prices, "--key", "id", "--delimiter", ";", "--encoding", "cp1252").exit_code == 0
    app = CsvManagerApp()
    try:
        plugin = app.app.plugins.get("CsvWatcherDbPlugin")
        plugin.load_watchers()
        before = plugin.csv_watcher.get(str(prices))
        plugin.restart_later(str(prices))  # what a runner does with a watcher it hands over or could not start
        after = plugin.csv_watcher.get(str(prices))
        assert after is not before
        assert (after.interval, after.key, after.dialect) == (before.interval, ("id",), Dialect(";", "cp1252"))
    finally:
        app.stop()
