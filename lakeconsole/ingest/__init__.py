"""NATS side of lakeconsole: embedded server, bus and consumers, writers, demo feed."""
