"""Delivery: the updater, batching, HubSpot's transport and answers, the rate limit, record state and schema."""
