"""Silver registered as Apache Iceberg tables (docs/design.md §6 `[iceberg]`), off by default."""
