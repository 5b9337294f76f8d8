"""vpslog: session logger and fidelity checker for vocational peer support."""

__version__ = "0.1.0"
