"""Compatibility fixes for groundwork 0.1.17, groundwork-database 0.1.4 and groundwork-web 0.1.5, kept in one
place.

Importing :mod:`csv_manager` imports this module first, so the fixes are in place before any groundwork module
is imported. groundwork-web (Flask) is imported only by the web commands, through :func:`import_groundwork_web`.
Each fix says what broke and in which version.
"""
import functools
import importlib
import importlib.metadata
import sys
import types
import warnings

from sqlalchemy.exc import MovedIn20Warning


def _raise_from(exception, cause):
    raise exception from cause


class _Distribution:
    """The part of a pkg_resources Distribution that groundwork's plugin manager reads."""

    def __init__(self, distribution):
        metadata = distribution.metadata  # parsed at each access: read it once
        self.key = metadata["Name"].lower()
        self.version = metadata["Version"]
        self.location = str(distribution.locate_file(""))


class _EntryPoint:
    """The part of a pkg_resources EntryPoint that groundwork's plugin manager reads: name, load() and dist."""

    def __init__(self, entry_point):
        self._entry_point = entry_point
        self.name = entry_point.name
        self.dist = _Distribution(entry_point.dist)

    def load(self):
        return self._entry_point.load()


def _iter_entry_points(group, name=None):
    """pkg_resources.iter_entry_points, answered by importlib.metadata, without groundwork's own plugins.

    groundwork 0.1.17 registers five bundled plugins (documents, plugin and signal info, recipes) as entry
    points, and every App() loads them all: that import (jinja2, docutils) was two thirds of the time each
    csv_manager command spent starting. csv_manager activates none of them (PLUGINS names only its own).
    groundwork-web 0.1.5's two plugins are left out for the same reason (importing them imports Flask,
    Flask-Admin and docutils: half again a command's start); the web commands register them (csv_manager_app).
    """
    for entry_point in _entry_points(group):
        if name is None or entry_point.name == name:
            yield entry_point


@functools.lru_cache(maxsize=None)
def _entry_points(group):
    """The entry points of ``group`` but groundwork's, read once per process: every App() asks for them, and
    reading every installed distribution's metadata was a quarter of an App's start in a process that makes
    several (the tests, a program that embeds csv_manager)."""
    # Told by the module path: reading each distribution's metadata costs as much as the import.
    return tuple(_EntryPoint(entry_point) for entry_point in importlib.metadata.entry_points(group=group)
                 if entry_point.module.split(".")[0] not in ("groundwork", "groundwork_web"))


def _cookiecutter(*args, **kwargs):
    """cookiecutter.main.cookiecutter, imported when first called (see import_groundwork)."""
    return importlib.import_module("cookiecutter.main").cookiecutter(*args, **kwargs)


def _shim(name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


def import_groundwork():
    """Import groundwork with the two modules its plugin manager needs and today's installs lack.

    - ``future``: groundwork 0.1.17 does ``from future.utils import raise_from`` but does not declare the
      ``future`` package, so ``import groundwork`` fails on a fresh install.
    - ``pkg_resources``: groundwork imports ``iter_entry_points`` from it. setuptools 81 and later no longer ship
      pkg_resources, Python 3.12+ venvs have no setuptools at all, and where it still exists importing it warns
      that it is deprecated and costs a scan of every installed distribution.

    A third stand-in only saves time: groundwork imports ``cookiecutter.main`` for its recipes, which csv_manager
    does not use, and that import (requests, jinja2 and more) was a quarter of every command's run time; the
    stand-in imports the real one if a recipe is ever built.

    They are in place only while groundwork's modules are imported (those bind the names at import time);
    afterwards ``sys.modules`` is restored, so nothing else in the process sees them.
    """
    shims = {
        "future": _shim("future"),
        "future.utils": _shim("future.utils", raise_from=_raise_from),
        "pkg_resources": _shim("pkg_resources", iter_entry_points=_iter_entry_points),
        "cookiecutter": _shim("cookiecutter"),
        "cookiecutter.main": _shim("cookiecutter.main", cookiecutter=_cookiecutter),
    }
    saved = {name: sys.modules.get(name) for name in shims}
    sys.modules.update(shims)
    try:
        importlib.import_module("groundwork")
    finally:
        for name, module in saved.items():
            if module is None:
                del sys.modules[name]
            else:
                sys.modules[name] = module


def register_database(plugin, name, url, description):
    """``plugin.databases.register(name, url, description)`` without SQLAlchemy 2's MovedIn20Warning.

    groundwork-database 0.1.4 calls ``sqlalchemy.ext.declarative.declarative_base()``, which SQLAlchemy 2.x
    still provides but flags as moved. The call works; the warning is about groundwork-database's code, not
    ours, and must not reach users.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MovedIn20Warning)
        return plugin.databases.register(name, url, description)


def register_model(database, model):
    """Register ``model`` on a groundwork-database ``Database`` and return the model class itself.

    groundwork-database 0.1.4's ``db.classes.register(Model)`` returns a ``DatabaseModel`` wrapper (name,
    description, parameters), not the class, so the tutorial's ``self.Watcher.query`` raises AttributeError.
    """
    database.classes.register(model)
    return model


def check_connections_before_use(engine):
    """What ``create_engine(url, pool_pre_ping=True)`` gives: each pooled connection is checked when taken.

    groundwork-database 0.1.4 builds its engines with ``create_engine(url)`` and offers no way to pass pool
    options, so after a database server restart every connection in the pool failed once before the pool
    noticed, and a recovered runner reported a second outage.
    """
    engine.pool._pre_ping = True


def import_groundwork_web():
    """Import groundwork-web 0.1.5 with the fixes it needs on today's Flask and Werkzeug; returns its pattern
    and its two plugins: (GwWebPattern, GwWeb, GwWebManager).

    - Werkzeug 3.0 removed ``werkzeug.urls.url_quote_plus``, which Flask-Restless 0.17 imports; groundwork-web
      imports Flask-Restless for its REST pattern, which csv_manager does not use, so the name is supplied
      (``urllib.parse.quote_plus`` does what it did) while groundwork-web's modules are imported.
    - Each route registration adds its rule to the context's blueprint and registers the blueprint again:
      Flask 2.3 refuses a rule added to a registered blueprint, Flask 2.1 a second registration. Contexts get
      :class:`_LateBlueprint`, which adds late rules to the application directly.
    - ``server_start`` of a server that does not exist prints ``Server '%s' not found.`` (the name left out) on
      stdout and exits 0: it is refused with exit code 2 naming the server and those there are.
    - ``WebApplication.init_flask`` calls ``CORS(app)``, and flask-cors 6 then allows every origin: configured
      away by ``FLASK_CORS_ORIGINS = []`` (configuration.py), since FLASK_* settings reach Flask's config first.
    """
    import werkzeug.urls

    had_quote_plus = hasattr(werkzeug.urls, "url_quote_plus")
    if not had_quote_plus:
        werkzeug.urls.url_quote_plus = _url_quote_plus
    try:
        patterns = importlib.import_module("groundwork_web.patterns")
        context = importlib.import_module("groundwork_web.patterns.gw_web_pattern.context")
        gw_web = importlib.import_module("groundwork_web.plugins.gw_web.gw_web")
        gw_web_manager = importlib.import_module("groundwork_web.plugins.gw_web_manager.gw_web_manager")
    finally:
        if not had_quote_plus:
            del werkzeug.urls.url_quote_plus
    context.Blueprint = _late_blueprint_class()
    gw_web.GwWeb._GwWeb__server_start = _server_start
    return patterns.GwWebPattern, gw_web.GwWeb, gw_web_manager.GwWebManager


def _url_quote_plus(string, charset="utf-8", errors="strict", safe="/:"):
    import urllib.parse

    return urllib.parse.quote_plus(string, safe=safe, encoding=charset, errors=errors)


def _server_start(plugin, server):
    """GwWeb's ``server_start SERVER`` (see import_groundwork_web)."""
    import click

    servers = plugin.app.web.servers.get()
    if server not in servers:
        raise click.BadParameter("%r is not a server; the servers are: %s" % (server, ", ".join(sorted(servers))),
                                 param_hint="'SERVER'")
    servers[server].function()


def _late_blueprint_class():
    import flask

    class _LateBlueprint(flask.Blueprint):
        """A Flask Blueprint that takes rules after it was registered (see import_groundwork_web): a second
        registration on the same application is ignored, and a rule added after the first goes straight to the
        application with the blueprint's URL prefix and endpoint name, as registering would have put it."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._application = None

        def register(self, app, options):
            if app.blueprints.get(self.name) is self:
                return
            super().register(app, options)
            self._application = app

        def add_url_rule(self, rule, endpoint=None, view_func=None, **options):
            if self._application is None:
                return super().add_url_rule(rule, endpoint, view_func, **options)
            prefix = (self.url_prefix or "").rstrip("/")
            endpoint = endpoint or view_func.__name__
            return self._application.add_url_rule("%s/%s" % (prefix, rule.lstrip("/")), "%s.%s" % (self.name, endpoint),
                                                  view_func, **options)

    return _LateBlueprint


import_groundwork()
