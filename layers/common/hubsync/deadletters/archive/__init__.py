"""The archive of dead letters close to expiry: the scheduled archiver (DLQ -> S3) and the way back.

``Archiver`` is what the scheduled ArchiverFunction runs; ``ArchiveReplayer`` is what
``hubsync replay --from-archive`` runs. Only the archiver is imported here, so the function's cold start
does not pay for the replay side (import hubsync.deadletters.archive.reader / .replayer for that).
"""

from hubsync.deadletters.archive.archiver import DEFAULT_ARCHIVE_AFTER_SECONDS, Archiver, ArchiveReport, archive_key
from hubsync.deadletters.archive.exceptions import ArchiveIncompleteError, NotAnArchiveObjectError
from hubsync.deadletters.archive.types import KEY_PREFIX, ArchivedMessage

__all__ = [
    "DEFAULT_ARCHIVE_AFTER_SECONDS",
    "KEY_PREFIX",
    "ArchiveIncompleteError",
    "ArchiveReport",
    "ArchivedMessage",
    "Archiver",
    "NotAnArchiveObjectError",
    "archive_key",
]
