"""Facts: references (``source:scope/name``), the ``Fact`` value, and the on-disk store."""
