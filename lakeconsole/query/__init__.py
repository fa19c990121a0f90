"""Queries over the lake: readers, the partition catalog, SQL views, export."""

# Most rows a SQL query hands back (the console's grid and `Service.sql`): enough to look
# at, bounded so that an accidental `SELECT *` over a month cannot exhaust memory.
ROW_LIMIT = 100_000
