"""``hubsync doctor``: before go-live, one line per check, ✓ or ✗ with what to do."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hubsync.intake.sources import parse_source_secrets
from hubsync.secrets import parse_token
from hubsync_cli.targets import Target, client

PLACEHOLDER = "REPLACE_WITH_PRIVATE_APP_TOKEN"
PUT_TOKEN = "aws secretsmanager put-secret-value --secret-id <HubSpotTokenSecretArn> --secret-string pat-..."
Probe = Callable[[], tuple[bool, str]]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.name}: {self.detail}"


_CUSTOM_OBJECT = re.compile(r"^(2-\d+|p\d+_\w+)$")


def _scope(object_type: str, verb: str) -> str:
    """The private-app scope an object type needs. Custom objects (by type id ``2-<n>``, or by their fully
    qualified name ``p<portal>_<name>``) all share HubSpot's ``crm.objects.custom.*`` scopes."""
    if _CUSTOM_OBJECT.match(object_type):
        return f"crm.objects.custom.{verb}"
    return f"crm.objects.{object_type.replace('_', '-')}.{verb}"


@dataclass
class Doctor:
    target: Target
    object_types: list[str]
    hubspot_url: str | None = None
    token: str | None = None
    checks: list[Check] = field(default_factory=list)

    def check(self, name: str, probe: Probe) -> bool:
        try:
            ok, detail = probe()
        except SystemExit as exc:  # a missing --option: the check cannot run
            ok, detail = False, str(exc)
        except Exception as exc:  # a check that cannot run is a failed check, with the reason
            ok, detail = False, f"{type(exc).__name__}: {str(exc)[:200]}"
        self.checks.append(Check(name, ok, detail))
        return ok

    def run(self) -> list[Check]:
        env = self._updater_environment()
        base = (self.hubspot_url or env.get("HUBSPOT_BASE_URL") or "https://api.hubapi.com").rstrip("/")
        types = self.object_types or [env.get("OBJECT_TYPE") or "partner_services"]
        self.check("queue", self._queue)
        self.check("dead-letter queue", self._dlq)
        self.check("webhook secrets", self._webhook_secrets)
        self.check("updater event source mapping", self._mapping)
        token: list[str] = []
        if not self.check("HubSpot token", lambda: self._token_present(token)):
            return self.checks
        headers = {"Authorization": f"Bearer {token[0]}"}
        if self.check("HubSpot accepts the token", lambda: self._accepted(base, types[0], headers)):
            self.check("token scopes", lambda: self._scopes(base, token[0], types))
            for object_type in types:
                self.check(f"object type {object_type}", lambda t=object_type: self._readable(base, t, headers))  # type: ignore[misc]
            settings: list[Any] = []
            if self.check("object settings", lambda: self._object_settings(env, settings)):
                for object_type in sorted({*types, *settings[0].by_type}):
                    self.check(
                        f"property definitions {object_type}",
                        lambda t=object_type: self._definitions(base, t, headers, settings[0]),  # type: ignore[misc]
                    )
        return self.checks

    @staticmethod
    def _object_settings(env: dict[str, str], found: list[Any]) -> tuple[bool, str]:
        from hubsync.delivery.schema.settings import parse_object_settings
        from hubsync.exceptions import ConfigurationError

        try:
            settings = parse_object_settings(env.get("OBJECT_SETTINGS"))
        except ConfigurationError as exc:
            return False, f"{exc.message} (template parameter ObjectSettings)"
        found.append(settings)
        modes = {name: setting.write_mode for name, setting in settings.by_type.items()}
        return True, ", ".join(f"{name}: {mode}" for name, mode in sorted(modes.items())) or "every type updated"

    def _definitions(self, base: str, object_type: str, headers: dict[str, str], settings: Any) -> tuple[bool, str]:
        """The updater reads these to check values before sending; an upsert's idProperty must be unique."""
        from hubsync.delivery.schema.definitions import DefinitionsError, parse_definitions

        answer = self._get(f"{base}/crm/v3/properties/{object_type}", headers)
        if answer.status_code != 200:
            return False, (
                f"HTTP {answer.status_code}: the updater cannot read them, so values go unchecked (each bad value "
                "costs HubSpot calls); grant the token the scope to read this type's properties"
            )
        try:
            definitions = parse_definitions(object_type, answer.json())
        except (DefinitionsError, ValueError) as exc:
            return False, f"not a Properties API answer: {exc}"
        id_property = settings.upsert_id_properties().get(object_type)
        if id_property:
            definition = definitions.get(id_property)
            if definition is None or not definition.unique:
                return False, (
                    f"ObjectSettings upserts {object_type} by {id_property!r}, which is not a unique property: "
                    "HubSpot refuses it; name a property with hasUniqueValue"
                )
        return True, f"{len(definitions.properties)} properties readable"

    def _updater_environment(self) -> dict[str, str]:
        if not self.target.updater_function:
            return {}
        try:
            config = client("lambda").get_function_configuration(FunctionName=self.target.updater_function)
        except Exception:
            return {}
        return dict((config.get("Environment") or {}).get("Variables") or {})

    def _queue(self) -> tuple[bool, str]:
        self.target.need("queue_url")
        attrs = client("sqs").get_queue_attributes(QueueUrl=self.target.queue_url, AttributeNames=["All"])
        redrive = json.loads(attrs["Attributes"].get("RedrivePolicy", "{}"))
        if not redrive:
            return False, "no redrive policy: crashed invocations would retry forever; deploy template.yaml"
        return True, f"reachable, redrive to the DLQ after {redrive.get('maxReceiveCount')} receives"

    def _dlq(self) -> tuple[bool, str]:
        self.target.need("dlq_url")
        attrs = client("sqs").get_queue_attributes(QueueUrl=self.target.dlq_url, AttributeNames=["All"])
        count = int(attrs["Attributes"].get("ApproximateNumberOfMessages", 0))
        return True, f"reachable, {count} message(s) waiting" + (" (hubsync dlq stats)" if count else "")

    def _webhook_secrets(self) -> tuple[bool, str]:
        self.target.need("webhook_secret_arn")
        text = client("secretsmanager").get_secret_value(SecretId=self.target.webhook_secret_arn)["SecretString"]
        filled = {source: len(values) for source, values in parse_source_secrets(text).items() if values}
        if not filled:
            return False, 'no webhook secret: every delivery is refused (401); put ["whsec_..."] in <WebhookSecretArn>'
        return True, ", ".join(f"{source}: {count} secret(s)" for source, count in filled.items())

    def _mapping(self) -> tuple[bool, str]:
        self.target.need("mapping_id")
        state = client("lambda").get_event_source_mapping(UUID=self.target.mapping_id).get("State")
        if state not in ("Enabled", "Enabling", "Creating", "Updating"):
            return False, f"{state}: delivery to HubSpot is paused (hubsync resume)"
        return True, str(state)

    def _token_present(self, found: list[str]) -> tuple[bool, str]:
        value = self.token
        if value is None:
            self.target.need("token_secret_arn")
            secret = client("secretsmanager").get_secret_value(SecretId=self.target.token_secret_arn)
            value = parse_token(secret["SecretString"])
        if not value or value == PLACEHOLDER:
            return False, f"the token secret holds no token: {PUT_TOKEN}"
        found.append(value)
        return True, "present"

    @staticmethod
    def _get(url: str, headers: dict[str, str]) -> Any:
        import requests

        return requests.get(url, params={"limit": "1"}, headers=headers, timeout=15)

    def _accepted(self, base: str, object_type: str, headers: dict[str, str]) -> tuple[bool, str]:
        answer = self._get(f"{base}/crm/v3/objects/{object_type}", headers)
        if answer.status_code == 401:
            return False, f"{base} refused the token (401): create a new private-app token and put it in the secret"
        return answer.status_code < 500, f"{base} answered {answer.status_code}"

    @staticmethod
    def _scopes(base: str, token: str, types: list[str]) -> tuple[bool, str]:
        import requests

        url = f"{base}/oauth/v2/private-apps/get/access-token-info"
        answer = requests.post(url, json={"tokenKey": token}, timeout=15)
        answer.raise_for_status()
        granted = set(answer.json().get("scopes", []))
        needed = {_scope(t, verb) for t in types for verb in ("read", "write")}
        missing = sorted(needed - granted)
        if missing:
            return False, f"missing scopes {', '.join(missing)}: add them to the private app, then rotate the token"
        return True, ", ".join(sorted(needed))

    def _readable(self, base: str, object_type: str, headers: dict[str, str]) -> tuple[bool, str]:
        answer = self._get(f"{base}/crm/v3/objects/{object_type}", headers)
        if answer.status_code != 200:
            return False, f"HTTP {answer.status_code}: check the object type name and the read scope"
        results = answer.json().get("results", [])
        return True, f"exists, {'a record was read' if results else 'no records yet'}"
