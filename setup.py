import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read(*parts):
    with open(os.path.join(HERE, *parts), encoding="utf-8") as stream:
        return stream.read()


setup(
    name="csv_manager",
    version=re.search(r'__version__ = "([^"]+)"', read("csv_manager", "__init__.py")).group(1),
    description="Watches CSV files for new and missing rows; a groundwork tutorial application done for real",
    long_description=read("README.rst"),
    long_description_content_type="text/x-rst",
    license="MIT",
    packages=find_packages(include=["csv_manager", "csv_manager.*"]),
    # Alembic reads the revisions as files, so they are data next to the package rather than a package.
    package_data={"csv_manager.plugins.csv_watcher_db_plugin": ["migrations/*/versions/*.py"],
                  "csv_manager.plugins.csv_document_plugin": ["migrations/*/versions/*.py"],
                  "csv_manager.plugins.csv_web_plugin": ["templates/*.html", "static/*"]},
    python_requires=">=3.10",
    install_requires=[
        "groundwork==0.1.17",
        "groundwork-database==0.1.4",
        "SQLAlchemy>=2.0,<3",
        "click>=8.1,<9",
        # Schema changes of the two databases (the plugins' migrations folders).
        "alembic>=1.13,<2",
        # The web view (the tutorial's chapter 3): groundwork-web's plugins and patterns on Flask, and waitress as
        # the production server. Flask-Admin 2 imports its SQLAlchemy views (which groundwork-web's patterns
        # import) only with Flask-SQLAlchemy installed: its "sqlalchemy" extra.
        "groundwork-web==0.1.5",
        "Flask>=3.0,<4",
        "Flask-Admin[sqlalchemy]>=2,<3",
        "waitress>=3",
    ],
    extras_require={
        "postgres": ["psycopg[binary]>=3.1"],
        "test": ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.5", "hypothesis>=6.100",
                 # Drives Debian's chromium in the web view's browser tests (no browser download of its own).
                 "playwright>=1.40"],
    },
    entry_points={
        "console_scripts": ["csv_manager = csv_manager.applications.csv_manager_app:start_app"],
        "groundwork.plugin": [
            "csv_watcher_db_plugin = csv_manager.plugins.csv_watcher_db_plugin:CsvWatcherDbPlugin",
            "csv_document_plugin = csv_manager.plugins.csv_document_plugin:CsvDocumentPlugin",
        ],
    },
    classifiers=[
        "Environment :: Console",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    ],
)
