from csv_manager.plugins.csv_watcher_db_plugin import CsvWatcherDbPlugin  # noqa: F401
from csv_manager.plugins.csv_document_plugin import CsvDocumentPlugin  # noqa: F401
