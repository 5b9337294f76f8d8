from vpslog.cli import run

run()
