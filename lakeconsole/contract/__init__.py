"""The data contract: datasets and Arrow schemas, wire decoding, Gold flattening (pure, no I/O)."""
