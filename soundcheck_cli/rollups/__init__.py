"""Rollups and trends over the recorded runs (``soundcheck report`` and ``soundcheck trend``): per owner, system,
domain, Group (with its subgroups) or kind, the entities, pass rates per check and the distribution of
certification levels per track. Nothing is re-evaluated: the numbers come from the runs ``check`` recorded in the
store (``history.store``), grouped with the catalog as it is loaded now. See ``docs/rollups.md``."""
