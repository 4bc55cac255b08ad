"""ArchiverFunction: every 6 hours, dead letters close to expiry go from the DLQ to the archive bucket.

Input: the scheduled event (ignored). Answers the archive report; raises ArchiveIncompleteError when some
due message could not be archived, so the run counts as a Lambda error (ArchiverErrorsAlarm). Those
messages stay in the DLQ for the next run.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from hubsync.config import Settings
from hubsync.deadletters.archive import ArchiveIncompleteError, Archiver
from hubsync.deadletters.replay import deadline_from
from hubsync.factory import build_archiver

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"hubsync"})
_archiver: Archiver | None = None


def _service() -> Archiver:
    global _archiver
    if _archiver is None:  # clients made once per container
        _archiver = build_archiver(Settings.from_env())
    return _archiver


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = _service().run(keep_going=deadline_from(context.get_remaining_time_in_millis))
    logger.info("archive run done", extra=report.as_dict())
    if report.failed:
        raise ArchiveIncompleteError(f"{report.failed} dead letters could not be archived", report.as_dict())
    return report.as_dict()
