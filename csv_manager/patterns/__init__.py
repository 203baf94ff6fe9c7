from csv_manager.patterns.csv_watcher_pattern import CsvWatcherPattern  # noqa: F401
