"""The ``nof1`` command line: a thin click layer over the library.

Each stage has its own module of commands (``protocol_cmds``, ``diary_cmds``, ...); this
module only builds the group and turns library errors into one ``Error: ...`` line.
A command parses, calls one library function, prints.
"""

from __future__ import annotations

import gc
import logging
import warnings

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
      nof1 calendar --trial mytrial --out trial.ics   (daily reminders)
      nof1 record --trial mytrial --pain 6
      nof1 status --trial mytrial
      nof1 interim --trial mytrial       (the helper, at each interim look)
      nof1 unblind --trial mytrial       (after the last period)
      nof1 analyze --trial mytrial
      nof1 report --trial mytrial --out report.html
    """
    # The command line speaks for itself: PyMC's sampler chatter and PyTensor's note about
    # a missing BLAS (it only slows matrix-heavy models, which nof1's are not) would bury
    # the few lines a patient needs. Library users keep both.
    # (PyMC adds its own INFO handler only when the root logger has none.)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")


#: Where each command lives. Modules are imported only when their command runs (or for
#: ``--help``), so ``nof1 record`` never pays for SciPy, and ``nof1 analyze`` never for PyMC
#: unless asked to.
COMMANDS = {
    "protocol": "protocol_cmds",
    "kits": "protocol_cmds",
    "calendar": "calendar_cmds",
    "record": "diary_cmds",
    "status": "diary_cmds",
    "history": "diary_cmds",
    "import": "diary_cmds",
    "export": "diary_cmds",
    "unblind": "diary_cmds",
    "interim": "interim_cmds",
    "analyze": "analyze_cmds",
    "report": "report_cmds",
    "design": "design_cmds",
    "pool": "pool_cmds",
    "demo": "demo_cmds",
}
cli.lazy_commands = COMMANDS


def main() -> None:
    """The ``nof1`` program: run the command line, then end the process quickly.

    When Python shuts down, its garbage collector walks every object still alive; after an
    MCMC analysis those are PyMC's and PyTensor's hundreds of thousands, which took over a
    second of a 15-second command. The process is ending anyway, so they are frozen out of
    that walk (``gc.freeze``); exit handlers still run and files are closed as usual.
    Tests call ``cli`` itself, so a test process never freezes its objects.
    """
    try:
        cli(prog_name="nof1")
    finally:
        gc.freeze()
