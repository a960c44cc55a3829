"""The HTTP face of the library: chat page, JSON and streaming API, OpenAI-compatible endpoint."""

from server.app import create_app

__all__ = ["create_app"]
