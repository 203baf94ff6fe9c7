"""Sphinx configuration of the CSV-Manager manual: ``tox -e docs`` builds it into docs/_build/html, warnings
being errors."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from csv_manager import __version__  # noqa: E402  (after the path: the docs' own modules come first)

project = "CSV-Manager"
author = "CSV-Manager maintainers"
release = version = __version__
extensions = ["sphinx_click"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_theme_options = {"description": "Watches CSV files for new and missing rows"}
