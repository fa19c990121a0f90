"""The lake's files: storage (fsspec), hive paths, Parquet encoding, batch writer, quarantine."""
