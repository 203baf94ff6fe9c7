"""The history pages, the tutorial's "own view" (chapter 3): ``/csv/history`` lists the newest changes and every
file with history; ``/csv/history?file=PATH`` shows one file's versions newest first, numbered as csv_history
numbers them; a version's rows a page at a time (``/csv/history/version``); its exact bytes
(``/csv/history/download``, what ``csv_history --show N`` writes); two versions compared
(``/csv/history/compare``, ``--diff N M``); and the "Clean history" button, a confirmed prune or purge."""
import os
from urllib.parse import quote

from flask import abort, flash, redirect, request, url_for

from csv_manager.errors import CsvManagerError
from csv_manager.patterns.csv_watcher_pattern.dialect import DEFAULT
from csv_manager.plugins.csv_document_plugin.history_output import diff_versions
from csv_manager.plugins.csv_document_plugin.history_pages import (
    file_versions, files_page, newest_versions, version_rows)
from csv_manager.plugins.csv_document_plugin.retention import retention
from csv_manager.plugins.csv_watcher_db_plugin.watcher_options import options_of
from csv_manager.plugins.csv_web_plugin.pages import (
    FILES_PER_PAGE, ROWS_PER_PAGE, VERSIONS_PER_PAGE, Paging, number_parameter, refuse, rows_table, text_parameter)

#: The newest changes of any file shown on /csv/history.
NEWEST = 10
CLEANINGS = ("prune", "purge")


class HistoryView:
    """The history pages of ``plugin`` (a GwWebPattern plugin), read from ``documents`` (CsvDocumentPlugin)
    and, for the key and dialect a comparison reads with, ``watchers`` (CsvWatcherDbPlugin)."""

    def __init__(self, plugin, documents, watchers):
        self.plugin = plugin
        self.documents = documents
        self.watchers = watchers

    def register(self):
        routes = self.plugin.web.routes
        routes.register(url="/history", methods=["GET", "POST"], endpoint=self._history_view, context="csv",
                        description="The recorded changes of the watched files")
        routes.register(url="/history/version", endpoint=self.version_view, context="csv",
                        description="One version's rows, a page at a time")
        routes.register(url="/history/download", endpoint=self.download_view, context="csv",
                        description="A version's exact bytes")
        routes.register(url="/history/compare", endpoint=self.compare_view, context="csv",
                        description="The rows that differ between two versions")
        routes.register(url="/history/clean", endpoint=self.clean_view, context="csv",
                        description="Asks before the history of a file is pruned or deleted")

    @property
    def history(self):
        return self.documents.setup_db()

    def _history_view(self):
        if request.method == "POST":
            return self._clean()
        csv_file = request.args.get("file")
        if csv_file is not None:
            return self._file_page(csv_file)
        search = request.args.get("q", "").strip()
        number = number_parameter("page", 1)
        total, _ = files_page(self.history, search, 0, 0)
        paging = Paging(number, FILES_PER_PAGE, total).check()
        _, files = files_page(self.history, search, paging.offset, paging.size)
        newest = newest_versions(self.history, NEWEST) if number == 1 and not search else []
        return self._render("csv_history.html", files=files, newest=newest, paging=paging, search=search)

    def _file_page(self, csv_file):
        number = number_parameter("page", 1)
        found = file_versions(self.history, csv_file, 0, 0)
        if found is None:
            abort(404, "No history for %s." % csv_file)
        paging = Paging(number, VERSIONS_PER_PAGE, found[0]).check()
        _, versions = file_versions(self.history, csv_file, paging.offset, paging.size)
        return self._render("csv_history_file.html", csv_file=csv_file, versions=versions, paging=paging)

    def version_view(self):
        csv_file, number = text_parameter("file"), number_parameter("version")
        page = number_parameter("page", 1)
        found = version_rows(self.history, csv_file, number, (page - 1) * ROWS_PER_PAGE, ROWS_PER_PAGE)
        if found is None:
            abort(404, self._no_version(csv_file, number))
        version, rows = found
        paging = Paging(page, ROWS_PER_PAGE, version["new_count"] + version["missing_count"]
                        + version["changed_count"]).check()
        return self._render("csv_history_version.html", version=version, table=rows_table(rows), paging=paging)

    def download_view(self):
        csv_file, number = text_parameter("file"), number_parameter("version")
        try:
            content, _ = self.history.content_at(csv_file, number)
        except CsvManagerError as error:
            abort(404, error.format_message())
        if content is None:
            abort(404, "At version %d %s had no content to download." % (number, csv_file))
        stem, extension = os.path.splitext(os.path.basename(csv_file))
        name = "%s.v%d%s" % (stem, number, extension or ".csv")
        return self.plugin.web.flask.response_class(content, mimetype="text/csv", headers={
            "Content-Disposition": "attachment; filename*=UTF-8''%s" % quote(name, safe="")})

    def compare_view(self):
        csv_file, first = text_parameter("file"), number_parameter("from")
        second = number_parameter("to") if request.args.get("to", "").strip() else None
        # Read as its watcher reads the file now (the server's registry does not follow other processes' changes).
        stored = self.watchers.stored_watchers(csv_file)
        _, key, dialect = options_of(stored[0]) if stored else (None, (), DEFAULT)
        try:
            record = diff_versions(self.history, csv_file, first, second, key, dialect)
        except CsvManagerError as error:
            abort(404 if "has no version" in error.message or "No history" in error.message else 400,
                  error.format_message())
        rows = ([("new", row) for row in record["new_rows"]] + [("missing", row) for row in record["missing_rows"]]
                + [("changed", row) for row in record["changed_rows"]])
        return self._render("csv_history_compare.html", csv_file=csv_file, first=first, second=second,
                            columns=record["columns"], table=rows_table(rows[:ROWS_PER_PAGE]), total=len(rows))

    def clean_view(self):
        csv_file = text_parameter("file")
        total = file_versions(self.history, csv_file, 0, 0)
        if total is None:
            abort(404, "No history for %s." % csv_file)
        config = self.plugin.app.config
        return self._render("csv_history_clean.html", csv_file=csv_file, versions=total[0],
                            keep_days=config.get("HISTORY_KEEP_DAYS", None),
                            keep_versions=config.get("HISTORY_KEEP_VERSIONS", None))

    def _clean(self):
        csv_file = text_parameter("csv_file", request.form)
        action = request.form.get("action")
        if action not in CLEANINGS:
            abort(400, "The action must be one of %s, not %r." % (", ".join(CLEANINGS), action))
        if request.form.get("confirmed") != "yes":
            abort(400, "Cleaning a history needs the confirmation of %s." % url_for("csv.clean_view"))
        try:
            if action == "purge":
                if not self.history.purge(csv_file):
                    abort(404, "No history for %s." % csv_file)
                flash("Versions of %s deleted" % csv_file)
                return redirect(url_for("csv._history_view"), code=303)
            deleted, oldest = self.history.prune(csv_file, *retention(self.plugin.app.config))
        except CsvManagerError as error:
            refuse(error)
        kept = "" if oldest is None or not deleted else "; the oldest kept is version %d" % oldest
        flash("Pruned %d versions of %s%s" % (deleted, csv_file, kept))
        return redirect(url_for("csv._history_view", file=csv_file), code=303)

    def _no_version(self, csv_file, number):
        try:
            self.history.content_at(csv_file, number)
        except CsvManagerError as error:
            return error.format_message()
        return "%s has no version %d." % (csv_file, number)

    def _render(self, template, **context):
        return self.plugin.render_live(template, **context)
