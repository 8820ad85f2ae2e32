"""``palimpsest mcp``: serve the memory, edits and history as MCP tools (stdio or streamable HTTP)."""

from __future__ import annotations

import argparse


def _mcp(args: argparse.Namespace) -> int:
    import anyio

    from serving.core.settings import Settings
    from serving.integrations.mcp_server import serve

    overrides = {k: v for k, v in (("url", args.url), ("mcp_transport", args.transport),
                                   ("mcp_host", args.host), ("mcp_port", args.port)) if v is not None}
    anyio.run(serve, Settings(**overrides))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mcp", help="serve the memory, edits and history as MCP tools for agents "
                                   "(calls PALIMPSEST_URL when set, else loads the model itself)")
    p.add_argument("--url", help="a running server to call (default: PALIMPSEST_URL; unset: load the model here)")
    p.add_argument("--transport", choices=["stdio", "streamable-http"],
                   help="default: PALIMPSEST_MCP_TRANSPORT (stdio)")
    p.add_argument("--host", help="streamable HTTP address (default: PALIMPSEST_MCP_HOST)")
    p.add_argument("--port", type=int, help="streamable HTTP port (default: PALIMPSEST_MCP_PORT)")
    p.set_defaults(func=_mcp)
