"""Checks and their rules: operators, JSONPath access, and the pure evaluation engine."""
