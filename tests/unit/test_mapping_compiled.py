"""The compiled transform (hubsync.intake.mapping.compiled) answers exactly as jmespath's own interpreter does.

A differential test: every expression below, on the shipped sample bodies and on arbitrary JSON documents,
evaluated both ways; results equal, or both raise the same kind of error. The expressions cover every node
type the compiler writes out and some it leaves to the interpreter (slices, sort_by's expression
references), the shipped example transforms, and hubsync's own functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jmespath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jmespath.visitor import TreeInterpreter

from hubsync.intake.mapping.compiled import compile_expression
from hubsync.intake.mapping.functions import HubsyncFunctions

EVENTS = Path(__file__).resolve().parents[2] / "events"
SOURCES = json.loads((EVENTS / "webhook-sources.json").read_text())
SHIPPED = [settings_["transform"] for settings_ in SOURCES.values() if "transform" in settings_]
EXPRESSIONS = [
    *SHIPPED,
    "a",
    "a.b.c",
    "a[0]",
    "a[-1].b",
    "a[1:3]",
    "a[::-1]",
    "a[*].b",
    "a[].b",
    "a[][]",
    "*.b",
    "a.*",
    "a[?b == `1`]",
    "a[?b != 'x'].c",
    "a[?b > `1`]",
    "a[?b >= c]",
    "a[?b < 'm']",
    "a[?!b]",
    "a[?b && c]",
    "a[?b || c]",
    "a || b",
    "a && b",
    "!a",
    "@",
    "[a, b]",
    "{x: a, y: b.c}",
    "a | [0]",
    "`[1, 2, 3]`",
    "'text'",
    "length(a)",
    "keys(@)",
    "sort_by(a, &b)",
    "max_by(a, &b)",
    "to_string(a)",
    "contains(a, 'b')",
    "starts_with(a, 'x')",
    "lower(a)",
    "upper(a)",
    "seconds_to_ms(a)",
    "from_items(a)",
    "powertools_json(a)",
    "a[?contains(['x', 'y'], b)].{id: c, n: d}",
    "[@][?a].{id: a, p: {q: b && lower(b)}}",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.sampled_from(["", "x", "y", "m", "a", "b"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "c", "d", "x"]), children, max_size=4)
    ),
    max_leaves=20,
)


def both(expression: str, document: Any) -> tuple[Any, Any]:
    """(the interpreter's answer, the compiled answer); an error is answered as its type."""
    options = jmespath.Options(custom_functions=HubsyncFunctions())
    parsed = jmespath.compile(expression)
    compiled = compile_expression(parsed.parsed, TreeInterpreter(options))
    answers = []
    for evaluate in (lambda: parsed.search(document, options=options), lambda: compiled(document)):
        try:
            answers.append(("value", evaluate()))
        except Exception as exc:  # the same kind of failure, whatever it is
            answers.append(("error", type(exc)))
    return answers[0], answers[1]


@pytest.mark.parametrize("sample", sorted(p.name for p in EVENTS.glob("*.json") if p.name != "webhook-sources.json"))
@pytest.mark.parametrize("expression", SHIPPED)
def test_the_shipped_transforms_on_the_sample_bodies(expression: str, sample: str) -> None:
    document = json.loads((EVENTS / sample).read_text())
    interpreted, compiled = both(expression, document)
    assert compiled == interpreted


@settings(max_examples=60, deadline=None)
@given(document=json_values)
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_every_expression_on_arbitrary_json(expression: str, document: Any) -> None:
    interpreted, compiled = both(expression, document)
    assert compiled == interpreted


def test_the_shipped_transforms_map_something() -> None:
    # Not vacuous: on its own sample, each shipped transform yields events.
    samples = {
        "stripe": "stripe-customer-updated.json",
        "github": "github-issues-edited.json",
        "erp": "erp-changeset.json",
    }
    for source, sample in samples.items():
        _, (kind, value) = both(SOURCES[source]["transform"], json.loads((EVENTS / sample).read_text()))
        assert kind == "value" and value, source
