from csv_manager.patterns.csv_watcher_pattern.csv_watcher_pattern import (CsvWatcherExistsError,  # noqa: F401
                                                                          CsvWatcherPattern)
