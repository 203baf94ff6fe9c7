"""Rows as ``csv.DictReader`` gives them, made from the lists of fields that ``csv.reader`` gives: the diff
(csv_diff.py, multiset.py, plain.py) and the key matching (keys.py) work on field lists and make dicts only of
the rows they report. Also the two facts about headers they all need: where a name's value is, and which
columns two headers share."""


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


def positions(header):
    """The position of each name of ``header``: the last one of a repeated name, whose value a row's dict keeps."""
    return {name: index for index, name in enumerate(header)}


def shared_columns(previous, header):
    """The names of ``header`` that ``previous`` has too, each once, in ``header``'s order: the columns on which
    rows read with the two headers are compared."""
    known = set(previous)
    return [name for name in dict.fromkeys(header) if name in known]
