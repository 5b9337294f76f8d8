"""Fidelity checking: rules as data (schemas/fidelity.toml, rules.py), kinds as pure
functions (kinds.py), the evaluation (engine.py) and its renderers (report.py).
Import the submodule you need: `vpslog log` loads only the rules."""
