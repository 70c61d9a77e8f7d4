"""Models of the personal effect: the exact conjugate engine, the PyMC engine, pooling."""
