"""Queries over the lake: readers, the partition catalog, SQL views, export."""
