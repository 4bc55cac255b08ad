"""A source's ``transform``: a JMESPath expression compiled once per container, applied to a parsed body.

Compiling imports jmespath (through hubsync.intake.mapping.functions): only sources with a transform pay for it.
"""

from __future__ import annotations

from typing import Any

from hubsync.intake.mapping.exceptions import ExpressionError, MappingError

_MAX_REASON_CHARS = 300


class Transform:
    """One compiled expression. ``apply`` raises MappingError (never anything else) when it cannot evaluate."""

    def __init__(self, source: str, expression: str) -> None:
        import jmespath
        from jmespath.exceptions import JMESPathError
        from jmespath.visitor import TreeInterpreter

        from hubsync.intake.mapping.compiled import compile_expression
        from hubsync.intake.mapping.functions import HubsyncFunctions

        try:
            self._compiled = jmespath.compile(expression)
        except JMESPathError as exc:
            # One log line: jmespath's message points at the error on a second line.
            where = " ".join(str(exc).split())
            message = f"WEBHOOK_SOURCES: source {source!r} transform is not valid JMESPath: {where}"
            raise ExpressionError(message) from exc
        # Compiled to closures once per container (hubsync.intake.mapping.compiled): the tree interpreter's per-node
        # dispatch was most of a mapped event's cost. The interpreter stays for node types not compiled.
        interpreter = TreeInterpreter(jmespath.Options(custom_functions=HubsyncFunctions()))
        self._evaluate = compile_expression(self._compiled.parsed, interpreter)
        # Unknown function names only surface when evaluated: checked here so a typo fails at start.
        unknown = sorted(name for name in _function_names(self._compiled.parsed) if not _known(name))
        if unknown:
            raise ExpressionError(f"WEBHOOK_SOURCES: source {source!r} transform calls unknown functions {unknown}")

    def apply(self, document: Any) -> Any:
        try:
            return self._evaluate(document)
        # Any failure of the evaluation, whatever raised it (jmespath, a function, a deep body's RecursionError),
        # is this body's, not the receiver's: the body is kept as UNMAPPED with the reason.
        except Exception as exc:
            reason = f"the transform could not evaluate the body: {_reason(exc)}"
            raise MappingError(reason, {"kind": type(exc).__name__}) from exc


def _reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 1] + "\u2026"


def _known(name: str) -> bool:
    from hubsync.intake.mapping.functions import HubsyncFunctions

    return callable(getattr(HubsyncFunctions, f"_func_{name}", None))


def _function_names(node: Any) -> set[str]:
    """The names of every function the parsed expression calls."""
    names: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if current.get("type") == "function_expression":
                names.add(str(current.get("value")))
            stack.extend(current.get("children", []))
        elif isinstance(current, list):
            stack.extend(current)
    return names
