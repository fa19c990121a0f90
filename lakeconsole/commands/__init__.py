"""Scriptable subcommands: compact, read, simulate."""
