"""Intake: the webhook receiver, its sources, signatures, receipts and mappings."""
