"""mtuscope: finds and explains Path-MTU and TCP-MSS problems, with the evidence attached."""

__version__ = "0.1.0"
__all__ = ["__version__"]
