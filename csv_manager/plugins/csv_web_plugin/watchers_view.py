"""The watchers' page, at the address of the tutorial's Flask-Admin view (``/admin/admin_csvwatchers/``, menu
CSV → Watchers): every watcher with what ``csv_watcher_list --json`` tells of it, and forms that add, update and
delete watchers through the commands' own code (CsvWatcherDbPlugin.add_watcher, update_watcher,
delete_watcher), so that the same checks refuse the same input with the same messages."""
import os

import click
from flask import abort, flash, redirect, request, url_for

from csv_manager.plugins.csv_watcher_db_plugin.watcher_commands import DEFAULT_INTERVAL, MAX_INTERVAL
from csv_manager.plugins.csv_watcher_db_plugin.watcher_options import DelimiterType, EncodingType
from csv_manager.plugins.csv_web_plugin.pages import WATCHERS_PER_PAGE, Paging, number_parameter, refuse

#: The delimiters the forms offer, by the names the commands take.
DELIMITERS = {",": ",", ";": ";", "|": "|", "tab": "\t"}


class WatchersView:
    """The watchers' pages of ``plugin`` (a GwWebPattern plugin) over ``watchers`` (CsvWatcherDbPlugin)."""

    def __init__(self, plugin, watchers):
        self.plugin = plugin
        self.watchers = watchers

    def register(self):
        routes = self.plugin.web.routes
        routes.register(url="/", endpoint=self.index_view, context="admin_csvwatchers",
                        description="The watchers, their state and owner")
        routes.register(url="/new/", methods=["POST"], endpoint=self.create_view, context="admin_csvwatchers",
                        description="Adds a watcher, as csv_watcher_add")
        routes.register(url="/edit/", methods=["GET", "POST"], endpoint=self.edit_view, context="admin_csvwatchers",
                        description="Changes a watcher, as csv_watcher_update")
        routes.register(url="/delete/", methods=["POST"], endpoint=self.delete_view, context="admin_csvwatchers",
                        description="Removes a watcher, as csv_watcher_delete")

    def index_view(self):
        search = request.args.get("q", "").strip()
        stored = [watcher for watcher in self.watchers.stored_watchers() if search in watcher["csv_file"]]
        paging = Paging(number_parameter("page", 1), WATCHERS_PER_PAGE, len(stored)).check()
        shown = self.watchers.with_status(stored[paging.offset:paging.offset + paging.size])
        return self.plugin.render_live("csv_watchers.html", watchers=shown, paging=paging, search=search,
                                       delimiters=DELIMITERS, default_interval=DEFAULT_INTERVAL,
                                       max_interval=MAX_INTERVAL)

    def create_view(self):
        form = request.form
        options = dict(interval=_interval(form.get("interval", "")), key=_key(form.get("key", "")),
                       delimiter=_convert(DelimiterType(), form.get("delimiter") or ",", "delimiter"),
                       encoding=_convert(EncodingType(), form.get("encoding") or "utf-8", "encoding"))
        self._run(self.watchers.add_watcher, _absolute(form.get("csv_file", "")), hint=True, **options)
        return redirect(url_for("admin_csvwatchers.index_view"), code=303)

    def edit_view(self):
        csv_file = _absolute(request.values.get("csv_file", ""))
        stored = self.watchers.stored_watchers(csv_file)
        if not stored:
            abort(404, "No watcher for %s." % csv_file)
        watcher = stored[0]
        if request.method == "GET":
            return self.plugin.web.render("csv_watcher_edit.html", watcher=watcher, delimiters=DELIMITERS,
                                          max_interval=MAX_INTERVAL)
        form = request.form
        key = _key(form.get("key", ""))
        self._run(self.watchers.update_watcher, csv_file, interval=_interval(form.get("interval", "")), key=key,
                  no_key=not key and bool(watcher["key"]),
                  delimiter=_convert(DelimiterType(), form.get("delimiter") or ",", "delimiter"),
                  encoding=_convert(EncodingType(), form.get("encoding") or "utf-8", "encoding"))
        return redirect(url_for("admin_csvwatchers.index_view"), code=303)

    def delete_view(self):
        csv_file = _absolute(request.form.get("csv_file", ""))
        self._run(self.watchers.delete_watcher, csv_file, purge=request.form.get("purge") == "yes")
        return redirect(url_for("admin_csvwatchers.index_view"), code=303)

    def _run(self, command, *args, **kwargs):
        """Run a watcher command; what it says is flashed on the next page, a refusal is a 400 page."""
        said = []
        try:
            command(*args, say=lambda message, err=False: said.append((message, err)), **kwargs)
        except click.ClickException as error:
            refuse(error)
        for message, warning in said:
            flash(message, "warning" if warning else "message")


def _absolute(path):
    path = path.strip()
    if not path:
        abort(400, "Give the path of a CSV file.")
    if not os.path.isabs(path):
        abort(400, "Give the CSV file's absolute path: %r is relative, and the server's working folder is not "
                   "yours." % path)
    return path


def _interval(value):
    value = value.strip()
    if not value:
        return DEFAULT_INTERVAL
    return _convert(click.IntRange(1, MAX_INTERVAL), value, "interval")


def _key(value):
    return tuple(name.strip() for name in value.split(",") if name.strip())


def _convert(param_type, value, name):
    try:
        return param_type.convert(value, None, None)
    except click.BadParameter as error:
        abort(400, "Invalid %s: %s" % (name, error.message))
