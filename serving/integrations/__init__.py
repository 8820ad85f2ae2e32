"""Integrations: LangChain (a chat model over the hosted model, a retriever over the graph memory) and
the MCP server (``mcp_server``, imported on its own: ``palimpsest mcp``)."""

from .chat_model import ChatPalimpsest
from .retriever import PalimpsestRetriever

__all__ = ["ChatPalimpsest", "PalimpsestRetriever"]
