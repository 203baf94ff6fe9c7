"""Rows as ``csv.DictReader`` gives them, made from the lists of fields that ``csv.reader`` gives: the diff
(csv_diff.py) and the key matching (keys.py) work on field lists and make dicts only of the rows they report."""


def as_dicts(header, rows):
    """Rows as csv.DictReader returns them (a row of the header's width is a plain zip)."""
    width = len(header)
    return [dict(zip(header, row)) if len(row) == width else as_dict(header, row) for row in rows]


def as_dict(header, row):
    """One row as csv.DictReader returns it: extra values as a list under None, absent ones None."""
    values = dict(zip(header, row))
    if len(row) > len(header):
        values[None] = row[len(header):]
    for name in header[len(row):]:
        values[name] = None
    return values
