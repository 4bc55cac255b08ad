"""Reads template.yaml so the local stack uses the same names and settings as a deployment.

Only what the local stack needs is resolved: Ref to parameters (their defaults) and to resources it
created, Fn::GetAtt to those resources, Fn::Sub over both, and Fn::If on the template's conditions (a
branch that is AWS::NoValue drops the property, as CloudFormation does).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns CloudFormation short tags (!Ref, !Sub, ...) into their long form."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_CfnLoader)
    assert isinstance(document, dict)
    return document


_SUB = re.compile(r"\$\{([^}!][^}]*)\}")
# What an Fn::If branch of {"Ref": "AWS::NoValue"} resolves to: removed from the mapping or list holding it.
_NO_VALUE = object()


@dataclass
class Template:
    """A template with values for pseudo parameters, parameters and the resources made locally."""

    document: dict[str, Any]
    stack_name: str = "hubsync-local"
    region: str = "us-east-1"
    account_id: str = "123456789012"
    parameters: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # logical id -> what !Ref gives
    attributes: dict[str, str] = field(default_factory=dict)  # "Logical.Attr" -> value

    @classmethod
    def load(cls, path: Path = TEMPLATE_PATH, **kwargs: Any) -> Template:
        return cls(load_template(path), **kwargs)

    def resource(self, logical_id: str) -> dict[str, Any]:
        resource = self.document["Resources"][logical_id]
        assert isinstance(resource, dict)
        return resource

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resource(logical_id).get("Properties", {}))

    def parameter(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        return str(self.document["Parameters"][name]["Default"])

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.refs:
            return self.refs[name]
        if name in self.document.get("Parameters", {}):
            return self.parameter(name)
        raise KeyError(f"the local stack cannot resolve Ref {name}")

    def _get_att(self, logical_id: str, attribute: str) -> str:
        key = f"{logical_id}.{attribute}"
        if key not in self.attributes:
            raise KeyError(f"the local stack cannot resolve GetAtt {key}")
        return self.attributes[key]

    def condition(self, name: str) -> bool:
        """A condition of the template, for these parameter values."""
        return bool(self._condition_value(self.document["Conditions"][name]))

    def _condition_value(self, node: Any) -> Any:
        if isinstance(node, Mapping) and len(node) == 1:
            ((key, value),) = node.items()
            if key == "Condition":
                return self.condition(value)
            if key == "Fn::Equals":
                return self._condition_value(value[0]) == self._condition_value(value[1])
            if key == "Fn::Not":
                return not self._condition_value(value[0])
            if key == "Fn::And":
                return all(self._condition_value(item) for item in value)
            if key == "Fn::Or":
                return any(self._condition_value(item) for item in value)
        return self.resolve(node)

    def resolve(self, node: Any) -> Any:
        resolved = self._resolve(node)
        return None if resolved is _NO_VALUE else resolved

    def _resolve(self, node: Any) -> Any:
        if isinstance(node, Mapping):
            if set(node) == {"Ref"} and node["Ref"] == "AWS::NoValue":
                return _NO_VALUE
            if set(node) == {"Fn::If"}:
                name, when_true, when_false = node["Fn::If"]
                return self._resolve(when_true if self.condition(name) else when_false)
            if set(node) == {"Ref"}:
                return self._ref(str(node["Ref"]))
            if set(node) == {"Fn::GetAtt"}:
                logical_id, attribute = node["Fn::GetAtt"]
                return self._get_att(logical_id, attribute)
            if set(node) == {"Fn::Sub"}:
                return self._sub(node["Fn::Sub"])
            mapping = {key: self._resolve(value) for key, value in node.items()}
            return {key: value for key, value in mapping.items() if value is not _NO_VALUE}
        if isinstance(node, list):
            return [item for item in (self._resolve(item) for item in node) if item is not _NO_VALUE]
        return node

    def _sub(self, value: Any) -> str:
        text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self._get_att(logical_id, attribute)
            return self._ref(name)

        return _SUB.sub(replace, text)

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """Globals plus the function's own variables, resolved."""
        variables = dict(
            self.document.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        )
        variables.update(self.properties(logical_id).get("Environment", {}).get("Variables", {}))
        return {name: str(self.resolve(value)) for name, value in variables.items()}

    def function_timeout(self, logical_id: str) -> int:
        timeout = self.properties(logical_id).get("Timeout")
        if timeout is None:
            timeout = self.document.get("Globals", {}).get("Function", {}).get("Timeout", 3)
        return int(self.resolve(timeout))

    def sqs_event(self, function_id: str) -> dict[str, Any]:
        """The properties of the function's SQS event source, resolved (without the queue itself)."""
        for event in self.properties(function_id).get("Events", {}).values():
            if event.get("Type") == "SQS":
                props = {k: v for k, v in event["Properties"].items() if k != "Queue"}
                resolved = self.resolve(props)
                assert isinstance(resolved, dict)
                return resolved
        raise KeyError(f"{function_id} has no SQS event")
