"""LangChain integration: a chat model over the hosted model, a retriever over the graph memory."""

from .chat_model import ChatPalimpsest
from .retriever import PalimpsestRetriever

__all__ = ["ChatPalimpsest", "PalimpsestRetriever"]
