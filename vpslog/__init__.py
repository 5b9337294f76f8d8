"""vpslog: session logger and fidelity checker for vocational peer support."""

__version__ = "0.1.0"


def main() -> None:
    """The `vpslog` command: quick entry, else the typer CLI (vpslog.quick.main). Here, so that Ctrl-C
    while their modules are still being imported (a tenth of a second) ends with exit 130 and no
    message, as it does later, not with Python's traceback."""
    import sys

    try:
        from vpslog.quick import main as run
    except KeyboardInterrupt:
        sys.exit(130)
    run()
