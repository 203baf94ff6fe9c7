"""Paged reads of the history for the web view (see csv_web_plugin): the files with their newest version, the
newest versions of all files, the versions of one file and the rows of one version, a page at a time, so that
a page costs what it shows, not what the history holds.

A version is a dict of id, csv_file, number (as csv_history numbers it), event, seen_at, rows (the file's row
count), new_count, missing_count, changed_count, reason, columns (how the header changed, a dict, or None) and
``preview``: its first rows as (change, row) pairs, ``change`` being "new", "missing" or "changed".
"""
import json

from sqlalchemy import func

from csv_manager.database import transaction

#: Rows of a version shown where versions are listed; the version's own page shows them all, a page at a time.
PREVIEW_ROWS = 20


def files_page(history, search, offset, limit):
    """(number of files with history whose path contains ``search``, those of them from ``offset`` on, at most
    ``limit``, by path): dicts of csv_file, versions (how many are shown) and newest (a version without its
    rows, or None)."""
    File, Version = history.File, history.Version
    with transaction(history.db) as session:
        query = session.query(File)
        if search:
            query = query.filter(File.csv_file.contains(search, autoescape=True))
        total = query.count()
        files = query.order_by(File.csv_file).offset(offset).limit(limit).all()
        counts = dict(((file_id, (count, newest)) for file_id, count, newest in session.query(
            Version.file_id, func.count(Version.id), func.max(Version.id)).filter(
            Version.file_id.in_([record.id for record in files]), history.shown_versions()).group_by(
            Version.file_id)))
        newest = {version.id: version for version in session.query(Version).filter(
            Version.id.in_([newest for _, newest in counts.values()]))}
        listed = []
        for record in files:
            count, newest_id = counts.get(record.id, (0, None))
            version = None if newest_id is None else _version(session, history, record, newest[newest_id],
                                                              record.pruned_versions + count, preview=0)
            listed.append({"csv_file": record.csv_file, "versions": count, "newest": version})
        return total, listed


def newest_versions(history, limit):
    """The ``limit`` newest versions of any file, newest first."""
    File, Version = history.File, history.Version
    with transaction(history.db) as session:
        versions = session.query(Version).filter(history.shown_versions()).order_by(Version.id.desc()).limit(limit)
        listed = []
        for version in versions:
            record = session.get(File, version.file_id)
            earlier = session.query(func.count(Version.id)).filter(*history.shown(record), Version.id <= version.id)
            listed.append(_version(session, history, record, version, record.pruned_versions + earlier.scalar()))
        return listed


def file_versions(history, csv_file, offset, limit):
    """(number of versions of ``csv_file``, its versions newest first from ``offset`` on, at most ``limit``);
    None if it has no history."""
    with transaction(history.db) as session:
        record = history.File.of(session, csv_file)
        if record is None:
            return None
        ids = _shown_ids(session, history, record)
        # Newest first: the version at position ``index`` of the page is ids[-1 - offset - index].
        page = ids[max(len(ids) - offset - limit, 0):max(len(ids) - offset, 0)][::-1]
        versions = {version.id: version for version in
                    session.query(history.Version).filter(history.Version.id.in_(page))}
        newest = record.pruned_versions + len(ids) - offset
        return len(ids), [_version(session, history, record, versions[version_id], newest - index)
                          for index, version_id in enumerate(page)]


def version_rows(history, csv_file, number, offset, limit):
    """(the version ``number`` of ``csv_file`` without preview, its rows from ``offset`` on as (change, row)
    pairs, at most ``limit``); None if there is no such version."""
    with transaction(history.db) as session:
        record = history.File.of(session, csv_file)
        if record is None:
            return None
        ids = _shown_ids(session, history, record)
        index = number - record.pruned_versions - 1
        if not 0 <= index < len(ids):
            return None
        version = session.get(history.Version, ids[index])
        rows = _rows(session, history, version.id, offset, limit)
        return _version(session, history, record, version, number, preview=0), rows


def _shown_ids(session, history, record):
    return [version_id for (version_id,) in
            session.query(history.Version.id).filter(*history.shown(record)).order_by(history.Version.id)]


def _version(session, history, record, version, number, preview=PREVIEW_ROWS):
    columns = session.query(history.Row.row).filter_by(version_id=version.id, change="columns").first()
    return {"id": version.id, "csv_file": record.csv_file, "number": number, "event": version.event,
            "seen_at": version.seen_at, "rows": version.rows, "new_count": version.new_count,
            "missing_count": version.missing_count, "changed_count": version.changed_count,
            "reason": version.reason, "columns": None if columns is None else json.loads(columns[0]),
            "preview": _rows(session, history, version.id, 0, preview) if preview else []}


def _rows(session, history, version_id, offset, limit):
    Row = history.Row
    rows = (session.query(Row.change, Row.row).filter(Row.version_id == version_id, Row.change != "columns")
            .order_by(Row.id).offset(offset).limit(limit))
    return [(change, json.loads(row)) for change, row in rows]
