"""Which files of a folder a folder watcher watches: a glob over their paths in it (:class:`FilePattern`), and
the listing that finds them (:func:`list_files`: names and inode numbers, no ``stat``).
"""
import os
import re

DEFAULT_PATTERN = "*.csv"


class FilePattern:
    """A glob matched against a file's path relative to the folder, as a shell matches one: ``*`` and ``?``
    within a name, not matching a leading dot (so hidden temporary files are left alone), ``[...]`` a set of
    characters; ``**/`` any number of folders (``**/*.csv``: every CSV file below the folder)."""

    def __init__(self, pattern):
        problem = pattern_problem(pattern)
        if problem is not None:
            raise ValueError(problem)
        self.pattern = pattern
        #: Whether subfolders are listed: only a pattern with a ``/`` can match a path in one.
        self.recursive = "/" in pattern
        self._regex = re.compile(_translate(pattern))

    def matches(self, relative):
        return self._regex.fullmatch(relative) is not None


def pattern_problem(pattern):
    """What is wrong with ``pattern`` (a message), or None."""
    if not pattern:
        return "The pattern is empty."
    if pattern.startswith("/"):
        return "The pattern %r is absolute; it is matched against paths relative to the folder." % pattern
    if any(part in ("", ".", "..") for part in pattern.split("/")):
        return "The pattern %r has an empty, '.' or '..' part." % pattern
    if any(ord(character) < 32 for character in pattern):
        return "The pattern %r contains a control character." % pattern
    return None


def _translate(pattern):
    """The regular expression of ``pattern`` (see FilePattern)."""
    parts = pattern.split("/")
    regex = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            regex.append(r"(?:[^/]+/)*[^/]*" if last else r"(?:[^/]+/)*")
            continue
        regex.append(_translate_name(part))
        if not last:
            regex.append("/")
    return "".join(regex)


def _translate_name(name):
    """The regular expression of one path component of a glob."""
    regex = [] if name.startswith(".") else ["(?!\\.)"]
    index = 0
    while index < len(name):
        character = name[index]
        index += 1
        if character == "*":
            regex.append("[^/]*")
        elif character == "?":
            regex.append("[^/]")
        elif character == "[" and "]" in name[index + 1:]:
            end = name.index("]", index + 1)
            members = name[index:end]
            negate = members.startswith("!")
            members = members[1:] if negate else members
            regex.append("[%s%s]" % ("^/" if negate else "", members.replace("\\", "\\\\")))
            index = end + 1
        else:
            regex.append(re.escape(character))
    return "".join(regex)


def list_files(directory, pattern):
    """({path: inode} of the files under ``directory`` that match ``pattern``, [the directories listed]).

    Subfolders are entered only for a pattern with a ``/``, and not through symbolic links (a link to a parent
    would loop). A subfolder that cannot be listed is left out; the folder itself raises OSError."""
    files, directories = {}, []
    stack = [(directory, "")]
    while stack:
        current, prefix = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            if current == directory:
                raise
            continue
        directories.append(current)
        for entry in entries:
            relative = prefix + entry.name
            try:
                if pattern.recursive and entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, relative + "/"))
                elif pattern.matches(relative) and entry.is_file():
                    files[entry.path] = entry.inode()
            except OSError:
                continue
    return files, directories
