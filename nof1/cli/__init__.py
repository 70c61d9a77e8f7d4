"""The ``nof1`` command line: a thin click layer over the library.

Each stage has its own module of commands (``protocol_cmds``, ``diary_cmds``, ...); this
module only builds the group and turns library errors into one ``Error: ...`` line.
A command parses, calls one library function, prints.
"""

from __future__ import annotations

import click

from nof1 import __version__
from nof1.cli.common import Nof1Group


@click.group(cls=Nof1Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nof1")
def cli() -> None:
    """Randomized, blinded n-of-1 self-experiments and their Bayesian analysis.

    \b
    A typical trial:
      nof1 protocol new --template magnesium-crps --trial mytrial
      nof1 kits --trial mytrial          (the helper packs the kits)
      nof1 record --trial mytrial --pain 6
      nof1 status --trial mytrial
      nof1 unblind --trial mytrial       (after the last period)
      nof1 analyze --trial mytrial
      nof1 report --trial mytrial --out report.html
    """


def _register() -> None:
    # Imported here so that each module can import ``cli`` lazily and register itself.
    import importlib

    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(f"nof1.cli.{name}")
        except ModuleNotFoundError as exc:  # a stage not yet built must not break the others
            if exc.name != f"nof1.cli.{name}":
                raise


_COMMAND_MODULES = (
    "protocol_cmds",
    "diary_cmds",
    "analyze_cmds",
    "report_cmds",
    "pool_cmds",
    "design_cmds",
    "demo_cmds",
)

_register()
