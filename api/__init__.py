"""PeriShield's HTTP API for operators (aiohttp): users and roles, events, acknowledgements,
evidence, status. See ``api/app.py`` for the routes."""

from api.app import create_app

__all__ = ["create_app"]
