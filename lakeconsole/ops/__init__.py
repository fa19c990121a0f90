"""Operations: Prometheus metrics, /healthz and /readyz, log formats, retry backoff."""
