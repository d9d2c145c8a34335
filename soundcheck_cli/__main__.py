"""``python -m soundcheck_cli`` runs the CLI (through ``entry``, as the ``soundcheck`` console script does)."""

from soundcheck_cli.cli.entry import main

if __name__ == "__main__":
    main()
