"""Dead letters: the DLQ envelope, replay and the archive."""
