"""CsvWebPlugin: the tutorial's chapter 3, "groundwork and the web", on groundwork-web's GwWebPattern.

GwWeb gives the commands ``server_start SERVER`` and ``server_list``, the server ``flask_debug`` and the page
layout; GwWebManager its pages at ``/webmanager/``. This plugin adds, as the tutorial's two plugins do:

- the watchers' view at ``/admin/admin_csvwatchers/`` (menu CSV → Watchers, see watchers_view.py), our own view
  at the tutorial's Flask-Admin address: Flask-Admin's forms would write the table past the commands' checks;
- the context ``csv`` (``/csv``) with the route ``/history`` (menu CSV → History, see history_view.py);
- the event stream ``/csv/events`` that keeps those pages live (see live.py);
- the server ``waitress``, a production WSGI server, beside GwWeb's ``flask_debug``.

Every request goes through the Guard (see security.py). It lives in a plugin of its own, not in the
tutorial's CsvWatcherDbPlugin and CsvDocumentPlugin, so that the other commands never import Flask; it reads
what those two plugins hold through their methods.
"""
import ipaddress
import os
import socket
import threading

import click
from flask import Response, redirect, request, url_for
from groundwork.patterns import GwCommandsPattern
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import func

from csv_manager.compat import import_groundwork_web
from csv_manager.database import transaction
from csv_manager.errors import CsvManagerError
from csv_manager.plugins.csv_watcher_db_plugin.stop_request import StopRequest
from csv_manager.plugins.csv_web_plugin.history_view import HistoryView
from csv_manager.plugins.csv_web_plugin.live import Changes, event_stream
from csv_manager.plugins.csv_web_plugin.pages import error_page, number_parameter, rows_table
from csv_manager.plugins.csv_web_plugin.security import TOKEN_PARAMETER, Guard, load_token
from csv_manager.plugins.csv_web_plugin.watchers_view import WatchersView
from csv_manager.sqlite_tuning import commit_counter

GwWebPattern, GwWeb, GwWebManager = import_groundwork_web()
HERE = os.path.dirname(os.path.abspath(__file__))
#: Open event streams a server serves at once; each holds one of its threads while the page is open.
MAX_STREAMS = 100


class CsvWebPlugin(GwWebPattern, GwCommandsPattern):
    """The web view of the watchers and their history."""

    def __init__(self, app, **kwargs):
        self.name = self.__class__.__name__
        self.needed_plugins = ["GwWeb", "CsvWatcherDbPlugin", "CsvDocumentPlugin"]
        super().__init__(app, **kwargs)
        self.guard = None
        self.changes = None
        self._streams = threading.BoundedSemaphore(MAX_STREAMS)

    def activate(self):
        watchers = self.app.plugins.get("CsvWatcherDbPlugin")
        documents = self.app.plugins.get("CsvDocumentPlugin")
        flask = self.web.flask
        # Our base.html replaces groundwork-web's, which loads jQuery and Bootstrap from public CDNs with inline
        # markup: pages that work offline and under a Content-Security-Policy without inline scripts.
        flask.jinja_env.loader = ChoiceLoader([FileSystemLoader(os.path.join(HERE, "templates")),
                                               flask.jinja_env.loader])
        flask.jinja_env.globals.update(rows_of=rows_table)
        flask.register_error_handler(Exception, error_page(self._error))
        if not getattr(self.app, "help_only", False):
            self.guard = Guard(flask, load_token(self.app.config.get("APP_PATH")), self._server_name())
            self.changes = Changes(self._fingerprint(watchers, documents),
                                   float(self.app.config.get("WEB_POLL_SECONDS", 0.25)))
        self.web.contexts.register("csv", template_folder=os.path.join(HERE, "templates"),
                                   static_folder=os.path.join(HERE, "static"), url_prefix="/csv",
                                   description="The history of the watched CSV files")
        self.web.contexts.register("admin_csvwatchers", template_folder=os.path.join(HERE, "templates"),
                                   static_folder=None, url_prefix="/admin/admin_csvwatchers",
                                   description="The CSV watchers")
        self.web.routes.register(url="/", endpoint=self.index, context="web", description="Goes to the history")
        self.web.routes.register(url="/events", endpoint=self.events_view, context="csv",
                                 description="Server-sent events that keep the open pages live")
        HistoryView(self, documents, watchers).register()
        WatchersView(self, watchers).register()
        menu = self.web.menus.register(name="CSV", link="#")
        with flask.app_context():
            menu.register("Watchers", link=url_for("admin_csvwatchers.index_view", _external=False))
            menu.register("History", link=url_for("csv._history_view", _external=False))
        debug_server = self.app.web.servers.get("flask_debug")
        run_debug_server = debug_server.function  # GwWeb's: reads FLASK_HOST, FLASK_PORT and FLASK_DEBUG itself
        debug_server.function = lambda: self._serve("flask_debug", lambda host, port: run_debug_server)
        self.web.servers.register("waitress", lambda: self._serve("waitress", self._bind_waitress),
                                  "Starts the production server (waitress)")

    def deactivate(self):
        if self.changes is not None and not self.changes.stopping:
            self.changes.stop()

    def index(self):
        return redirect(url_for("csv._history_view"))

    def events_view(self):
        """The event stream of one open page (see live.py); ``seen`` is the change count the page shows."""
        seen = number_parameter("seen", self.changes.count, source={
            "seen": request.headers.get("Last-Event-ID") or request.args.get("seen", "")}, minimum=0)
        if not self._streams.acquire(blocking=False):
            return Response("Too many open pages (%d); close some." % MAX_STREAMS, status=503)
        response = Response(event_stream(self.changes, seen), mimetype="text/event-stream",
                            headers={"X-Accel-Buffering": "no"})
        response.call_on_close(self._streams.release)  # when the page closes, or the server stops
        return response

    def render_live(self, template, **context):
        """``template`` rendered, or only its ``live`` block when the page asks for its live content."""
        if request.headers.get("X-Live") != "1":
            return self.web.render(template, live_count=self.changes.count, **context)
        flask = self.web.flask
        context.update(app=self.app, plugin=self, live_count=self.changes.count)
        flask.update_template_context(context)
        page = flask.jinja_env.get_template(template)
        return "".join(page.blocks["live"](page.new_context(context)))

    def _error(self, status, title, message):
        return self.web.render("csv_error.html", status=status, title=title, message=message), status

    def _server_name(self):
        return str(self.app.config.get("FLASK_SERVER_NAME"))

    def _address(self):
        """(host, port) from FLASK_HOST and FLASK_PORT, checked."""
        host, port = str(self.app.config.get("FLASK_HOST", "127.0.0.1")), self.app.config.get("FLASK_PORT", 5000)
        try:
            port = int(str(port))
        except ValueError:
            port = -1
        if not 0 < port < 65536:
            raise CsvManagerError("The web port (FLASK_PORT or CSV_MANAGER_WEB_PORT) must be a number from 1 to "
                                  "65535, not %r." % self.app.config.get("FLASK_PORT"))
        return host, port

    def _serve(self, server, bind):
        """Check the settings, bind ``server`` (``bind(host, port)`` returns the function that runs it), print
        the login URL and run it until it stops."""
        host, port = self._address()
        debug = bool(self.app.config.get("FLASK_DEBUG", False))
        if debug and not _loopback(host):
            raise CsvManagerError("FLASK_DEBUG runs Werkzeug's debugger, which runs any code sent to it: it is "
                                  "refused on %s; use the loopback (127.0.0.1) or turn FLASK_DEBUG off." % host)
        if server == "flask_debug":
            click.echo("flask_debug is Flask's development server: for anything but developing, use "
                       "'csv_manager server_start waitress'.", err=True)
        self.app.plugins.get("CsvDocumentPlugin").setup_db()
        run = bind(host, port)
        click.echo("CSV-Manager web view (%s) on %s:%d; open http://%s/?%s=%s" % (
            server, host, port, self._server_name(), TOKEN_PARAMETER, self.guard.token))
        self.changes.start()
        try:
            run()
        finally:
            self.changes.stop()

    def _bind_waitress(self, host, port):
        """A waitress server listening on ``host:port``; the function it returns serves until SIGINT or SIGTERM
        (exit codes as csv_watcher_run's), and then ends the open event streams."""
        import waitress

        try:
            server = waitress.create_server(self.web.flask, host=host, port=port, threads=MAX_STREAMS + 8,
                                            connection_limit=2 * MAX_STREAMS, ident="csv_manager")
        except OSError as error:
            raise CsvManagerError("Cannot listen on %s:%d: %s" % (host, port, error.strerror))

        def run():
            with StopRequest() as stop:
                threading.Thread(target=server.run, name="waitress", daemon=True).start()
                stop.event.wait()
            self.changes.stop()
            server.close()
            click.get_current_context().exit(stop.exit_code)
        return run

    def _fingerprint(self, watchers, documents):
        """A function whose answer changes when what the live pages show may have: on SQLite, the databases'
        commit counters (see sqlite_tuning.commit_counter); elsewhere, a few aggregates of the tables."""
        counters = {}

        def fingerprint():
            history = documents.setup_db()
            answer = []
            for database, tables in ((history.db, (history.Version, history.File, history.Status)),
                                     (watchers.db, (watchers.Watcher,))):
                if database.engine.dialect.name == "sqlite":
                    if database not in counters:  # made in the thread that asks: a SQLite connection stays in one
                        counters[database] = commit_counter(database.engine)
                    answer.append(counters[database]())
                else:
                    answer.append(_aggregates(database, tables))
            return tuple(answer)
        return fingerprint


#: The aggregates of each table that change with what the live pages show (see CsvWebPlugin._fingerprint).
AGGREGATES = {"id": func.max, "checked_at": func.max, "changed_at": func.max, "interval": func.sum,
              "pruned_versions": func.sum}


def _aggregates(database, tables):
    """The row count and AGGREGATES of each of ``tables``."""
    with transaction(database) as session:
        return tuple(session.query(func.count(), *[AGGREGATES[column.name](column)
                                                   for column in table.__table__.columns
                                                   if column.name in AGGREGATES]).one()
                     for table in tables)


def _loopback(host):
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback
                   for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP))
    except (OSError, ValueError):
        return False
