"""Helpers of the reliability suites (issue 7): a fault-injecting local HTTP server and a runner for the real CLI
as a subprocess. The suites themselves are ``tests/test_reliability_*.py``."""
