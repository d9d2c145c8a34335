"""Tracks (and their legacy name, programs): ordered levels of checks, and certification."""
