"""Fidelity checking: rules as data (schemas/fidelity.toml), kinds as pure functions."""

from vpslog.fidelity.engine import Report, Result, evaluate
from vpslog.fidelity.rules import RuleBook, load_rules

__all__ = ["Report", "Result", "RuleBook", "evaluate", "load_rules"]
