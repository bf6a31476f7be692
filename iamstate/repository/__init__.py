"""The repository side: files, YAML, schema, the loader, policy documents, the strategy."""
