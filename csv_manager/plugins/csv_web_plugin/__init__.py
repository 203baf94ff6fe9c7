from csv_manager.plugins.csv_web_plugin.csv_web_plugin import CsvWebPlugin, GwWeb, GwWebManager  # noqa: F401
