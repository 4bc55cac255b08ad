"""Which queue messages the receiver queued itself.

The updater reads the receiver's own messages on a fast path (decoded in C, not validated again): the
receiver already verified, validated and normalised them. Anything else on the queue (a replayed dead
letter, an envelope SQS's redrive moved back, a message an operator sent by hand) must be judged exactly
as the receiver judges a webhook's event, time bounds included, or a refused event could come back through
a replay and be applied. A message's body cannot tell the two apart (a replayed event has the very shape
the receiver queues), so the receiver marks its messages with a message attribute: the replayer, the
re-queuer and the archive never copy it, and no sender reaches SQS's attributes.
"""

from __future__ import annotations

ATTRIBUTE = "hubsyncQueuedBy"
RECEIVER = "receiver/1"
