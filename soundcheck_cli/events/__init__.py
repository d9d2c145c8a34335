"""Soundcheck's change events (``CheckStatusChangeEvent``, ``CertificationChangeEvent``): model, config, sinks,
in-process subscribers, and delivery with an outbox. See ``docs/history-and-events.md``."""
