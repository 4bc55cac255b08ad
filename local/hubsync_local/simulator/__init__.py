"""A HubSpot CRM simulator: a real HTTP server with HubSpot's semantics, for tests and local runs.

Answers, with HubSpot's bodies and status codes (see HUBSPOT.md for the observed ones):
`POST /crm/v3/objects/{objectType}/batch/update`, `/batch/upsert` and `/batch/read`,
`GET /crm/v3/objects/{objectType}` (paged), `GET` and `PATCH /crm/v3/objects/{objectType}/{id}`, and the
Properties API's reads `GET /crm/v3/properties/{objectType}` and `/{propertyName}`, served from the same
definitions writes are validated against (definitions.py). Bearer-token auth, HubSpot's rate limits and
headers, injected faults, and admin endpoints under `/_simulator/` (see admin.py).

    with HubSpotSimulator(rate_limit=100) as sim:
        requests.post(f"{sim.url}/crm/v3/objects/partner_services/batch/update", json=..., headers=...)
        assert sim.calls[-1].status == 200

Dev tooling only: nothing that ships imports it. Standard library only.
"""

from __future__ import annotations

from .calls import Call
from .faults import Faults
from .ratelimit import RateLimiter
from .schema import ObjectSchema, Option, PropertyDef, default_schemas
from .seed import DEFAULT_SEED_PATH
from .simulator import HubSpotSimulator
from .store import StoreError

__all__ = [
    "DEFAULT_SEED_PATH",
    "Call",
    "Faults",
    "HubSpotSimulator",
    "ObjectSchema",
    "Option",
    "PropertyDef",
    "RateLimiter",
    "StoreError",
    "default_schemas",
]
