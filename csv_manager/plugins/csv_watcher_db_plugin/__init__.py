from csv_manager.plugins.csv_watcher_db_plugin.csv_watcher_db_plugin import CsvWatcherDbPlugin  # noqa: F401
