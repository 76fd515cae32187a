"""The student agent: signal sources, outbox, hub discovery, the link and the runner."""
