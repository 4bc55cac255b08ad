"""HubSpot's property definitions, read and applied before anything is sent.

- ``definitions``: what a ``GET /crm/v3/properties/{objectType}`` answer says of each property;
- ``values``: HubSpot's value rules per property type, with the conversions hubsync makes;
- ``cache``: the definitions per object type, per container, fetched again when they may have changed;
- ``checks``: every event's values checked (and converted) before it is merged and sent;
- ``refusals``: what a whole-batch 400 names (properties, values), to split off the inputs it means;
- ``settings``: ``OBJECT_SETTINGS``, per object type (``writeMode`` update or upsert).
"""
