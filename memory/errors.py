"""The memory's input errors: the serving layer answers them with a 4xx and their message."""


class MemoryInputError(ValueError):
    """The caller's input cannot be ingested or searched (empty, conflicting ids, a bad time, ...)."""


class DocumentTooLargeError(MemoryInputError):
    """A document exceeds `MemoryConfig.max_document_chars`."""
