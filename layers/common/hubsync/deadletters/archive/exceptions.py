"""Errors of the archive."""

from __future__ import annotations

from hubsync.exceptions import HubsyncError


class ArchiveIncompleteError(HubsyncError):
    """A run could not archive every due message; those stay in the DLQ for the next run."""


class NotAnArchiveObjectError(HubsyncError):
    """An object in the archive bucket is not an archived DLQ message; it is left where it is."""
