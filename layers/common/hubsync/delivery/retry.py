"""When to try a HubSpot call again within one invocation, and how long to wait first.

Policy only: no I/O. Randomness is injectable so tests are exact. Everything not retried here
goes back to SQS (``batchItemFailures``) and is retried on redelivery.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter; ``Retry-After`` (capped) wins when HubSpot sends one."""

    max_attempts: int = 3
    base_delay_seconds: float = 0.5
    max_delay_seconds: float = 10.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt number ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(retry_after, self.max_delay_seconds)
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (attempt - 1))
        return self.rng.uniform(0, ceiling)

    def can_retry(self, attempt: int, delay: float, remaining_seconds: float, call_seconds: float) -> bool:
        """Another attempt fits: attempts left, and time for the wait plus a whole call plus the answer to SQS."""
        return attempt < self.max_attempts and delay + call_seconds < remaining_seconds
