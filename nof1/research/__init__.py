"""Research: anonymised exports and the hierarchical model that pools them."""
