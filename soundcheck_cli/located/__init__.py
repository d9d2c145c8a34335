"""Values that know where they came from (``file:line:col``): located mappings and lists (``nodes``), and
durations (``durations``), shared by the config, the catalog, the collectors and the HTTP client."""
