"""doctor names the scopes HubSpot's private apps really have for each object type."""

from __future__ import annotations

import pytest

from hubsync_cli.doctor import _scope


@pytest.mark.parametrize(
    ("object_type", "read", "write"),
    [
        ("partner_services", "crm.objects.partner-services.read", "crm.objects.partner-services.write"),
        ("contacts", "crm.objects.contacts.read", "crm.objects.contacts.write"),
        ("2-3456789", "crm.objects.custom.read", "crm.objects.custom.write"),
        ("p12345_cars", "crm.objects.custom.read", "crm.objects.custom.write"),
    ],
)
def test_scopes_by_object_type(object_type: str, read: str, write: str) -> None:
    assert (_scope(object_type, "read"), _scope(object_type, "write")) == (read, write)
