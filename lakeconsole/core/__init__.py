"""The domain core: schemas, partitioning, storage, Parquet, writers, compactor, readers.

Nothing in here imports textual or nats.
"""
