"""The web console: the static files of ``serving/http/console/`` at ``/console/``; ``/`` leads there.

The page is plain HTML, CSS and JavaScript (no build step). It calls the same ``/v1`` API as any
client, with the API key the user types in (kept in the browser's localStorage).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from serving.core.errors import NotFoundError

router = APIRouter(tags=["console"], include_in_schema=False)

CONSOLE_DIR = Path(__file__).resolve().parents[1] / "console"
FILES = {"index.html": "text/html", "app.js": "text/javascript", "graph.js": "text/javascript", "style.css": "text/css"}
"""The console's files and their media types; nothing else in the folder is served."""


class ConsoleFileNotFoundError(NotFoundError):
    """The console has no file of this name."""


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/console/")


@router.get("/console")
async def console_no_slash() -> RedirectResponse:
    """The page's links to its scripts are relative to ``/console/``."""
    return RedirectResponse("/console/")


@router.get("/console/{name}")
@router.get("/console/", name="console_index")
async def console_file(name: str = "index.html") -> FileResponse:
    if name not in FILES:
        raise ConsoleFileNotFoundError(f"the console has no file {name!r}")
    return FileResponse(CONSOLE_DIR / name, media_type=FILES[name], headers={"Cache-Control": "no-cache"})
