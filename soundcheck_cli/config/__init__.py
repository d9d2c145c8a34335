"""Loading the app-config: files, ``${ENV}`` substitution, ``$include``/``$file``/``$env``, merge, validation."""
