"""One module per group of routes; each exposes ``router`` and ``install(engine)``."""
