"""nof1: randomized, blinded n-of-1 self-experiments with a trustworthy Bayesian analysis."""

__version__ = "0.1.0"
