"""ASGI entry point for uvicorn workers: the app from ``KIOSK_SERVER_*`` settings."""

from __future__ import annotations

from fastapi import FastAPI

from regional_server.app import create_app
from regional_server.settings import load_settings


def create_from_env() -> FastAPI:
    """``uvicorn --factory regional_server.asgi:create_from_env`` (what ``serve`` runs)."""
    return create_app(load_settings())
