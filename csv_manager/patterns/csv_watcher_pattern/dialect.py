"""How a file's bytes are read: its delimiter and encoding (a :class:`Dialect`), checked as users give them.

The diff reads records in the bytes, before decoding (see records.py), which works for every encoding that
writes a quote, CR, LF, NUL and the delimiter as those ASCII bytes (UTF-8, cp1252, Latin-1, Shift_JIS...). A file
in any other (UTF-16, UTF-32, EBCDIC) is *transcoded*: read as its UTF-8 encoding (see version.py).

Fields of any length are read: importing this module lifts the csv module's field size limit (128 KiB by
default) for the whole process, since csv has no per-reader limit; DictReader then reads such fields too.
"""
import codecs
import csv
import functools
import sys
from dataclasses import dataclass

#: The bytes whose meaning the diff reads before decoding; an encoding must write them as themselves.
STRUCTURE = '"\r\n\0'
#: The names of UTF-8 (the second, a transcoded file's): its decoding is one-to-one, so different bytes are
#: different text.
UTF8 = ("utf-8", "utf_8")


@dataclass(frozen=True)
class Dialect:
    """How a file's bytes are read: a one-character ``delimiter`` and an ``encoding`` (UTF-8 drops a BOM)."""

    delimiter: str = ","
    encoding: str = "utf-8"

    def decode(self, data, at_start):
        """``data`` as text; a leading UTF-8 BOM is dropped when it starts the file."""
        return data.decode("utf-8-sig" if at_start and self.encoding == "utf-8" else self.encoding)

    def reader(self, lines):
        return csv.reader(lines, delimiter=self.delimiter)

    @property
    def transcoded(self):
        """True when the encoding writes a quote, line end, NUL or the delimiter as other bytes than ASCII's:
        then files are read as their UTF-8 transcoding."""
        return not _ascii_compatible(self.encoding, self.delimiter)

    @property
    def utf8(self):
        """The dialect a transcoded file's UTF-8 encoding is read in. ``utf_8``, not ``utf-8``: a BOM is not
        dropped there, since the file's own codec has decided already whether a BOM is data."""
        return Dialect(self.delimiter, "utf_8")

    def transcode(self, data, final=True):
        """``data`` decoded in the dialect's encoding and encoded in UTF-8; with ``final`` False, a character cut
        off at the end is left out (for a prefix of a file)."""
        return codecs.getincrementaldecoder(self.encoding)().decode(data, final).encode("utf-8")


DEFAULT = Dialect()
#: The delimiters users name, by the name they give them.
DELIMITERS = {",": ",", ";": ";", "|": "|", "tab": "\t"}


def delimiter_name(delimiter):
    return "tab" if delimiter == "\t" else delimiter


def suggested_delimiter(header, dialect):
    """The delimiter a header read in ``dialect`` suggests instead, when it is one column whose name holds
    another of DELIMITERS (Excel's semicolons read as commas); None when nothing suggests one."""
    if header is None or len(header) != 1:
        return None
    counts = {delimiter: header[0].count(delimiter) for delimiter in DELIMITERS.values()
              if delimiter != dialect.delimiter}
    best = max(counts, key=counts.get)
    return best if counts[best] else None


def check_dialect(delimiter, encoding):
    """A Dialect of ``delimiter`` and ``encoding`` (its codec's canonical name); raises ValueError naming what
    cannot be used: a delimiter that is not one character other than a quote or line end, an unknown encoding,
    a codec that is not a text encoding (rot13, zlib...), or one that cannot write the delimiter."""
    if len(delimiter) != 1 or delimiter in STRUCTURE:
        raise ValueError("the delimiter must be one character other than a quote or line end, not %r" % delimiter)
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise ValueError("there is no encoding %r" % encoding)
    if not getattr(info, "_is_text_encoding", True):
        raise ValueError("%r is not a text encoding" % encoding)
    name = "utf-8" if info.name == "utf-8-sig" else info.name
    try:
        (STRUCTURE + delimiter).encode(name)
    except UnicodeError:
        raise ValueError("the encoding %r cannot write quotes, line ends or the delimiter %r" % (encoding, delimiter))
    return Dialect(delimiter, name)


@functools.lru_cache(maxsize=None)
def _ascii_compatible(encoding, delimiter):
    """Whether ``encoding`` writes STRUCTURE and ``delimiter`` as those ASCII bytes (and so, for the codecs
    Python has, never as part of another character)."""
    try:
        return (STRUCTURE + delimiter).encode(encoding) == (STRUCTURE + delimiter).encode("latin-1")
    except UnicodeError:
        return False


def _lift_field_size_limit():
    """Let csv read fields of any length that fits in memory: the largest limit this platform's C long holds."""
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 2


_lift_field_size_limit()
