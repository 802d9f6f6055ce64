"""Storage: engine, shared metadata, migrations, unit of work, outbox."""
