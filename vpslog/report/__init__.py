"""The supervisor's HTML report: gather (result objects and the records behind the charts),
charts (matplotlib, rendered to SVG at build time) and html (a Jinja2 template).
Only `vpslog report html` imports this package, so matplotlib and Jinja2 never slow `vpslog log`."""
