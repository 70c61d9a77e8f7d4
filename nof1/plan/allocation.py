"""Drawing an allocation: the randomization schemes a protocol can register.

An allocation is a tuple of arms, one per period in calendar order: ``"A"`` (active, e.g.
magnesium) or ``"B"`` (control: placebo or no treatment). Periods come in blocks of two.

Schemes:

- ``block`` (default): each block holds one A and one B period in random order, chosen
  independently per block (counterbalanced): 2**blocks equally likely allocations.
- ``alternating``: ABAB... or BABA..., the first arm drawn at random: 2 allocations.
  Weak against chance (the randomization test can never go below p = 0.5), offered
  because some clinicians prefer a fixed rhythm.
- ``random-pairs``: the 2*blocks periods shuffled with exactly ``blocks`` A and ``blocks``
  B periods (restricted randomization, comb(2*blocks, blocks) allocations). Block k is
  then simply periods 2k-1 and 2k, and may hold AA or BB.

The exact randomization test over the same schemes is ``nof1.analysis.randomization``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from nof1.errors import ProtocolError
from nof1.plan.protocol import SCHEMES


def _check(blocks: int, scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ProtocolError(f"unknown scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    if blocks < 1:
        raise ProtocolError(f"blocks must be at least 1, got {blocks}")


def draw_allocation(blocks: int, scheme: str, rng: np.random.Generator) -> tuple[str, ...]:
    """Draw one allocation under a scheme.

    Example
    -------
    >>> draw_allocation(2, "block", np.random.default_rng(1))
    ('B', 'A', 'B', 'A')
    """
    _check(blocks, scheme)
    if scheme == "block":
        return tuple(
            arm for _ in range(blocks) for arm in (("A", "B") if rng.random() < 0.5 else ("B", "A"))
        )
    if scheme == "alternating":
        first, second = ("A", "B") if rng.random() < 0.5 else ("B", "A")
        return (first, second) * blocks
    arms = np.array(["A"] * blocks + ["B"] * blocks)
    return tuple(str(a) for a in rng.permutation(arms))


def n_allocations(blocks: int, scheme: str) -> int:
    """How many equally likely allocations the scheme can produce (without listing them).

    Example
    -------
    >>> n_allocations(3, "block"), n_allocations(3, "alternating"), n_allocations(3, "random-pairs")
    (8, 2, 20)
    """
    _check(blocks, scheme)
    if scheme == "block":
        return 2**blocks
    if scheme == "alternating":
        return 2
    return math.comb(2 * blocks, blocks)


def all_allocations(blocks: int, scheme: str) -> list[tuple[str, ...]]:
    """Every allocation the scheme could have produced, each equally likely."""
    _check(blocks, scheme)
    if scheme == "block":
        return [
            tuple(arm for flip in flips for arm in (("B", "A") if flip else ("A", "B")))
            for flips in itertools.product((0, 1), repeat=blocks)
        ]
    if scheme == "alternating":
        return [("A", "B") * blocks, ("B", "A") * blocks]
    n = 2 * blocks
    return [
        tuple("A" if i in chosen else "B" for i in range(n))
        for chosen in map(set, itertools.combinations(range(n), blocks))
    ]
