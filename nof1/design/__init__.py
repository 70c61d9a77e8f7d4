"""The design stage: what a trial could show, by simulation, before it starts.

- ``nof1.design.fixed``: operating characteristics of fixed-length designs (``nof1 design``);
- ``nof1.design.sequential``: pre-registered interim looks with calibrated stopping
  boundaries (``nof1 design --sequential``): calibrating the boundaries, recommending a rule
  and the entry points; the simulated trials analysed at every look and a rule's operating
  characteristics on them in ``nof1.design.looks``, the boundaries themselves in
  ``nof1.design.boundaries``;
- ``nof1.design.blinding``: simulated trials in which blinding holds or breaks, and what the
  verdict makes of them (validation studies).

The fixed-design names are re-exported here, so ``from nof1.design import evaluate_designs``
works as before.
"""

from nof1.design.fixed import (
    DEFAULT_MCID,
    DEFAULT_THRESHOLD,
    MAX_FALSE_POSITIVE,
    STRICT_THRESHOLD,
    TARGET_POWER,
    DesignResult,
    analyse_batch,
    evaluate_designs,
    protocol_command,
    recommend,
)

__all__ = [
    "DEFAULT_MCID",
    "DEFAULT_THRESHOLD",
    "MAX_FALSE_POSITIVE",
    "STRICT_THRESHOLD",
    "TARGET_POWER",
    "DesignResult",
    "analyse_batch",
    "evaluate_designs",
    "protocol_command",
    "recommend",
]
