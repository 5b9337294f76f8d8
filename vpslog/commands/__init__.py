"""One module per command group; `vpslog.cli` registers them."""
