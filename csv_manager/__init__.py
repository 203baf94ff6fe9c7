"""CSV-Manager: watch CSV files for new and missing rows, built on the groundwork plugin framework."""
from csv_manager import compat  # noqa: F401  (must run before anything imports groundwork)

__version__ = "0.3.0"
