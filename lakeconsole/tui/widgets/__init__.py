"""Thin widgets: they render what they are given and post messages; no I/O."""
