"""calc/: encapsulation overheads, MTU/MSS arithmetic, the reverse question, config lines.

Layer: calc/. Pure functions over constant tables; no I/O, no clock, and no
imports from diagnose/ or any edge (diagnose/ depends on calc/, not back).
"""

from mtuscope.calc.advice import TCP_IP_HEADERS, clamp_mss, config_snippet, usable_mtu
from mtuscope.calc.conventions import (
    CONVENTIONS,
    Convention,
    conventions_for_ip_mtu,
    conventions_for_mss,
    conventions_for_mtu,
)
from mtuscope.calc.explain import Explanation, explain_mtu, nearest_stacks
from mtuscope.calc.layer_specs import known_layers, parse_layer
from mtuscope.calc.layer_types import LAYER_TYPES
from mtuscope.calc.layers import Layer
from mtuscope.calc.snippets import PLATFORMS, render
from mtuscope.calc.stack import LayerResult, StackResult, compute, parse_layers

__all__ = [
    "CONVENTIONS",
    "Convention",
    "Explanation",
    "LAYER_TYPES",
    "Layer",
    "LayerResult",
    "PLATFORMS",
    "StackResult",
    "TCP_IP_HEADERS",
    "clamp_mss",
    "compute",
    "config_snippet",
    "conventions_for_ip_mtu",
    "conventions_for_mss",
    "conventions_for_mtu",
    "explain_mtu",
    "known_layers",
    "nearest_stacks",
    "parse_layer",
    "parse_layers",
    "render",
    "usable_mtu",
]
