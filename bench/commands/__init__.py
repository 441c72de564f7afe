"""CLI commands that live in their own modules, registered on the app in bench/cli.py."""
