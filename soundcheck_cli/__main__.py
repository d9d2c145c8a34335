"""``python -m soundcheck_cli`` runs the CLI."""

from soundcheck_cli.cli import main

if __name__ == "__main__":
    main()
