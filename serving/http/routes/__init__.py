"""One module per group of routes, each an ``APIRouter`` with its prefix and tags."""

from __future__ import annotations

from fastapi import APIRouter

from . import chat, console, edits, export, health, history, jobs, memory, metrics, skills, updates

ROUTERS: list[APIRouter] = [m.router for m in (health, chat, history, jobs, export, memory, edits, skills, updates, console, metrics)]
