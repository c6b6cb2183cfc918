"""PeriShield's HTTP API (aiohttp). For now: health and read-only event queries."""

from api.app import create_app

__all__ = ["create_app"]
