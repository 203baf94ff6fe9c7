"""Compatibility fixes for groundwork 0.1.17 and groundwork-database 0.1.4, kept in one place.

Importing :mod:`csv_manager` imports this module first, so the fixes are in place before any groundwork module
is imported. Each fix says what broke and in which version.
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
                 if entry_point.module.split(".")[0] != "groundwork")


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


import_groundwork()
