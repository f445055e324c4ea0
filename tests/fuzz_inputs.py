"""Hypothesis strategies shared by the parsers' property tests (the `chaos` fuzzing tests).

Random bytes alone rarely get past a parser's first check, so most strategies here start
from a valid input and break one thing: a byte flipped, the input cut or extended, a JSON
field replaced by a value of the wrong type or out of range.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Any JSON value: scalars at the edges (huge integers, negative zero, long and non-ASCII
# text) and small nested containers.
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=80),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=12,
)


@st.composite
def mutated_bytes(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` with one to three of: a bit flipped, a byte replaced, bytes inserted or
    removed, the end cut off or extended."""
    data = bytearray(original)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        action = draw(st.sampled_from(("flip", "replace", "insert", "delete", "cut",
                                       "extend")))
        at = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif action == "replace" and data:
            data[at] = draw(st.integers(min_value=0, max_value=255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete" and data:
            del data[at:at + draw(st.integers(min_value=1, max_value=8))]
        elif action == "cut":
            del data[at:]
        elif action == "extend":
            data += draw(st.binary(min_size=1, max_size=40))
    return bytes(data)


@st.composite
def body_with_one_field_wrong(draw: st.DrawFn, body: dict[str, Any]) -> dict[str, Any]:
    """A copy of a valid JSON object with one key removed, replaced by any JSON value, or
    an unknown key added."""
    wrong = dict(body)
    key = draw(st.sampled_from(sorted(body)))
    action = draw(st.sampled_from(("replace", "remove", "add")))
    if action == "replace":
        wrong[key] = draw(JSON_VALUES)
    elif action == "remove":
        del wrong[key]
    else:
        wrong[draw(st.text(min_size=1, max_size=12))] = draw(JSON_VALUES)
    return wrong


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


@st.composite
def payloads_around(draw: st.DrawFn, valid_body: dict[str, Any]) -> bytes:
    """Bytes of a message near a valid one: a field wrong, the JSON text mutated, another
    JSON value altogether, or random bytes."""
    choice = draw(st.sampled_from(("field", "mutated", "json", "random")))
    if choice == "field":
        return json_bytes(draw(body_with_one_field_wrong(valid_body)))
    if choice == "mutated":
        return draw(mutated_bytes(json_bytes(valid_body)))
    if choice == "json":
        return json_bytes(draw(JSON_VALUES))
    return draw(st.binary(max_size=200))


def deeply_nested_json(depth: int) -> bytes:
    """Valid JSON nested `depth` lists deep: enough to exhaust a recursive parser's stack."""
    return b"[" * depth + b"]" * depth
