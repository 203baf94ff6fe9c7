from csv_manager.applications.csv_manager_app import CsvManagerApp, start_app  # noqa: F401
