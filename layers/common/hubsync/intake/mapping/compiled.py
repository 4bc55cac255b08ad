"""A parsed JMESPath expression turned into nested Python closures, evaluated without the tree interpreter.

jmespath evaluates by walking its AST: a dict lookup, a method dispatch and a call per node and per value,
which for a transform run on every event of every webhook is most of what mapping costs (bench/mapping.py).
Here each node becomes one closure, built once per container, that does exactly what
``jmespath.visitor.TreeInterpreter`` does for that node type (the code mirrors it, helper for helper); a
node type not written out here is evaluated by the interpreter itself, so every expression jmespath
parses still works, only slower. tests/unit/test_mapping_compiled.py holds the two to the same answers.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from jmespath import visitor
from jmespath.visitor import TreeInterpreter

Evaluate = Callable[[Any], Any]

# The interpreter's own helpers, so that equality, ordering and number checks are its, to the letter.
_equals: Callable[[Any, Any], bool] = visitor._equals
_is_actual_number: Callable[[Any], bool] = visitor._is_actual_number
_is_comparable: Callable[[Any], bool] = visitor._is_comparable

_ORDERING: dict[str, Callable[[Any, Any], Any]] = {
    "lt": operator.lt,
    "gt": operator.gt,
    "lte": operator.le,
    "gte": operator.ge,
}


def _is_false(value: Any) -> bool:
    # JMESPath's falsiness, by equality as the interpreter checks it (0 is true, "" [] {} null false are not).
    return value == "" or value == [] or value == {} or value is None or value is False


def compile_expression(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    """The closure evaluating ``node`` (a jmespath AST) as ``interpreter.visit(node, value)`` would."""
    build = _BUILDERS.get(node["type"])
    if build is None:
        return lambda value: interpreter.visit(node, value)
    return build(node, interpreter)


def _children(node: dict[str, Any], interpreter: TreeInterpreter) -> list[Evaluate]:
    return [compile_expression(child, interpreter) for child in node["children"]]


def _chain(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    """subexpression, index_expression and pipe: each child applied to the result of the one before."""
    steps = _children(node, interpreter)
    if len(steps) == 2:
        first, second = steps
        return lambda value: second(first(value))

    def chained(value: Any) -> Any:
        for step in steps:
            value = step(value)
        return value

    return chained


def _field(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    name = node["value"]

    def field(value: Any) -> Any:
        try:
            return value.get(name)
        except AttributeError:
            return None

    return field


def _projection(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    base, each = _children(node, interpreter)

    def projection(value: Any) -> Any:
        items = base(value)
        if not isinstance(items, list):
            return None
        return [current for current in map(each, items) if current is not None]

    return projection


def _value_projection(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    base, each = _children(node, interpreter)

    def value_projection(value: Any) -> Any:
        items = base(value)
        try:
            values = items.values()
        except AttributeError:
            return None
        return [current for current in map(each, values) if current is not None]

    return value_projection


def _filter_projection(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    base, each, condition = _children(node, interpreter)

    def filter_projection(value: Any) -> Any:
        items = base(value)
        if not isinstance(items, list):
            return None
        collected = []
        for element in items:
            if not _is_false(condition(element)):
                current = each(element)
                if current is not None:
                    collected.append(current)
        return collected

    return filter_projection


def _flatten(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    (base,) = _children(node, interpreter)

    def flatten(value: Any) -> Any:
        items = base(value)
        if not isinstance(items, list):
            return None
        merged: list[Any] = []
        for element in items:
            if isinstance(element, list):
                merged.extend(element)
            else:
                merged.append(element)
        return merged

    return flatten


def _multi_select_dict(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    pairs = [(child["value"], compile_expression(child["children"][0], interpreter)) for child in node["children"]]

    def multi_select_dict(value: Any) -> Any:
        if value is None:
            return None
        return {key: evaluate(value) for key, evaluate in pairs}

    return multi_select_dict


def _multi_select_list(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    items = _children(node, interpreter)
    return lambda value: None if value is None else [evaluate(value) for evaluate in items]


def _key_val_pair(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    return compile_expression(node["children"][0], interpreter)


def _literal(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    constant = node["value"]
    return lambda value: constant


def _current(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    return lambda value: value


def _index(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    position = node["value"]

    def index(value: Any) -> Any:
        if not isinstance(value, list):
            return None
        try:
            return value[position]
        except IndexError:
            return None

    return index


def _comparator(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    left, right = _children(node, interpreter)
    kind = node["value"]
    if kind == "eq":
        return lambda value: _equals(left(value), right(value))
    if kind == "ne":
        return lambda value: not _equals(left(value), right(value))
    compare = _ORDERING[kind]

    def ordering(value: Any) -> Any:
        first, second = left(value), right(value)
        if not (_is_comparable(first) and _is_comparable(second)):
            return None  # ordering is only defined for numbers (and, in jmespath 1.x, strings)
        return compare(first, second)

    return ordering


def _or(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    left, right = _children(node, interpreter)

    def either(value: Any) -> Any:
        matched = left(value)
        return right(value) if _is_false(matched) else matched

    return either


def _and(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    left, right = _children(node, interpreter)

    def both(value: Any) -> Any:
        matched = left(value)
        return matched if _is_false(matched) else right(value)

    return both


def _not(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    (operand,) = _children(node, interpreter)

    def negated(value: Any) -> Any:
        original = operand(value)
        if _is_actual_number(original) and original == 0:
            return False  # !0 is false: 0 is not a special value in JMESPath
        return not original

    return negated


def _function(node: dict[str, Any], interpreter: TreeInterpreter) -> Evaluate:
    if any(child["type"] == "expref" for child in node["children"]):
        # sort_by, max_by and friends take an expression reference: the interpreter's own object for it.
        return lambda value: interpreter.visit(node, value)
    arguments = _children(node, interpreter)
    name = node["value"]
    # The same functions, with the same argument type checks, as the interpreter calls.
    call: Callable[[str, list[Any]], Any] = interpreter._functions.call_function
    return lambda value: call(name, [argument(value) for argument in arguments])


_BUILDERS: dict[str, Callable[[dict[str, Any], TreeInterpreter], Evaluate]] = {
    "subexpression": _chain,
    "index_expression": _chain,
    "pipe": _chain,
    "field": _field,
    "projection": _projection,
    "value_projection": _value_projection,
    "filter_projection": _filter_projection,
    "flatten": _flatten,
    "multi_select_dict": _multi_select_dict,
    "multi_select_list": _multi_select_list,
    "key_val_pair": _key_val_pair,
    "literal": _literal,
    "current": _current,
    "identity": _current,
    "index": _index,
    "comparator": _comparator,
    "or_expression": _or,
    "and_expression": _and,
    "not_expression": _not,
    "function_expression": _function,
}
