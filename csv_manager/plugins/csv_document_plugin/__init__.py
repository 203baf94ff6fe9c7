from csv_manager.plugins.csv_document_plugin.csv_document_plugin import CsvDocumentPlugin  # noqa: F401
