"""The log file in APP_PATH: rotating, private, and never in the way.

A log that cannot be written (a full disk, a folder made read-only, a directory where the file should be) is
said once on stderr, in one line, and the command goes on without it; the logging module's default is a Python
traceback on stderr for every record.
"""
import logging.handlers
import sys


class LogFile(logging.handlers.RotatingFileHandler):
    #: True in a process that only shows help or the version: it must leave no trace, not even a log line.
    suspended = False

    def __init__(self, *args, **kwargs):
        # Opened at the first record rather than while groundwork configures logging, so that a log that
        # cannot be opened is reported by handleError like one that cannot be written.
        kwargs["delay"] = True
        super().__init__(*args, **kwargs)
        self._failed = False

    def emit(self, record):
        if not self.suspended:
            super().emit(record)

    def handleError(self, record):
        if self._failed:
            return
        self._failed = True
        error = sys.exc_info()[1]
        reason = getattr(error, "strerror", None) or error
        sys.stderr.write("WARNING: Cannot write the log %s (%s); going on without it\n" % (self.baseFilename, reason))
