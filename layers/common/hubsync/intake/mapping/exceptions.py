"""The mapping's errors."""

from __future__ import annotations

from hubsync.exceptions import ConfigurationError, HubsyncError


class MappingError(HubsyncError):
    """The body could not be mapped to events: it is kept whole in the DLQ (UNMAPPED), never bounced."""


class ExpressionError(ConfigurationError):
    """A source's transform is not a valid JMESPath expression: a configuration error at start."""
