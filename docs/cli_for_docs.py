"""The csv_manager command line as click objects, for the command reference (sphinx-click): the app made as for
``--help``, which opens no database and writes nothing."""
from csv_manager.applications import CsvManagerApp

cli = CsvManagerApp(help_only=True).cli()
