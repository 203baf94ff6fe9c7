"""Loaded after configuration.py when the command line only asks for help or the version.

groundwork 0.1.17's App refuses an APP_PATH that does not exist yet, and creating it would be a side effect of
``--help``; without an APP_PATH groundwork takes the working directory, in which nothing is written either.
"""
APP_PATH = None
