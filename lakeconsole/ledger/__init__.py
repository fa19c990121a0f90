"""The completeness ledger: what the lake received, lost upstream, and how complete each feed is."""
