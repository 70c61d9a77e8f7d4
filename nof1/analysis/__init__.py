"""The analysis: from a trial (or any CSV) to a series, the models, the summary and the verdict."""
