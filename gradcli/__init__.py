"""gradcli: every value and every partial derivative of a small computation, checked."""

__version__ = "0.1.0"
