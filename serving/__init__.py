"""Serving: the shared model host, the durable edit history, the HTTP API and the CLI."""
