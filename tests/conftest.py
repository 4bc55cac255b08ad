"""Shared fixtures: real HTTP endpoints for AWS (moto's server) and HubSpot (the simulator)."""

from support.aws import *  # noqa: F403  (fixtures)
from support.hubspot import *  # noqa: F403  (fixtures)
