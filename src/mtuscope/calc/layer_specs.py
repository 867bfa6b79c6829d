"""Parsing layer specs: ``name[:option[:option...]]`` into a `Layer`.

Layer: calc/. Pure string handling over the table in `layer_types.py`; no I/O.
Options are flags (``gre:key``), a family (``vxlan:ipv6``), a number
(``mpls:2``) or an algorithm (``ipsec-tunnel:aes-cbc-sha1``), in any order.
"""

from __future__ import annotations

from mtuscope.calc import ciphers
from mtuscope.calc.layer_types import ALIASES, LAYER_TYPES, LayerOptions, LayerType
from mtuscope.calc.layers import Layer
from mtuscope.errors import UsageError

_FAMILY_WORDS = {"ipv4": 4, "v4": 4, "ipv6": 6, "v6": 6}


def known_layers() -> str:
    """The comma-separated list of layer names, for error messages."""
    return ", ".join([*LAYER_TYPES, *ALIASES])


def parse_layer(spec: str, *, outer_family: int = 4) -> Layer:
    """Parse one layer spec such as ``gre:key`` or ``ipsec-tunnel:aes-cbc-sha1:natt``.

    Args:
        spec: layer name (or alias) and options separated by colons.
        outer_family: delivery IP family for tunnels that name none.

    Returns:
        The parsed layer.

    Raises:
        UsageError: unknown layer or option, or a number out of range.
    """
    words = [w for w in spec.strip().lower().split(":")]
    if not words[0]:
        raise UsageError(f"empty layer spec {spec!r}; known layers: {known_layers()}")
    head = ALIASES.get(words[0])
    if head is not None:
        words = head.split(":") + words[1:]
    ltype = LAYER_TYPES.get(words[0])
    if ltype is None:
        raise UsageError(f"unknown layer {spec!r}; known layers: {known_layers()}")
    flags: set[str] = set()
    number: int | None = None
    choice: str | None = None
    family = outer_family
    for word in words[1:]:
        if word in ltype.flags:
            flags.add(word)
        elif ltype.family_option and word in _FAMILY_WORDS:
            family = _FAMILY_WORDS[word]
            flags.add("explicit-family")
        elif ltype.choices and _choice(ltype, word) is not None:
            if choice is not None:
                raise UsageError(f"layer {spec!r}: two algorithms, {choice!r} and {word!r}")
            choice = _choice(ltype, word)
        elif ltype.number is not None and word.isdigit():
            meaning, low, high, _ = ltype.number
            number = int(word)
            if not low <= number <= high:
                raise UsageError(f"layer {spec!r}: {meaning} must be {low}..{high}, got {number}")
        else:
            raise UsageError(f"layer {spec!r}: unknown option {word!r}; {_options(ltype)}")
    if ltype.number is not None and number is None:
        number = ltype.number[3]
    return ltype.build(
        LayerOptions(flags=frozenset(flags), number=number, choice=choice, family=family)
    )


def _choice(ltype: LayerType, word: str) -> str | None:
    if ltype.name.startswith("ipsec-"):
        t = ciphers.esp_transform(word)
        return t.name if t else None
    return word if word in ltype.choices else None


def _options(ltype: LayerType) -> str:
    opts = list(ltype.flags)
    if ltype.family_option:
        opts += ["ipv4", "ipv6"]
    if ltype.number is not None:
        opts.append(f"N ({ltype.number[0]})")
    if ltype.choices:
        opts += list(dict.fromkeys(ltype.choices))
    return f"options of {ltype.name}: {', '.join(opts) or 'none'}"
