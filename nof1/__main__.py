from nof1.cli import cli

cli(prog_name="nof1")
