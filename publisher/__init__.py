"""Website adapters (WordPress REST, signed webhook) and the outbox worker."""
