"""Silver compaction: Bronze inputs, dedup, chunk writer, manifest layout, lease, compactor."""
