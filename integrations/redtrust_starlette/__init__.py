"""Starlette integration for redtrust-middleware (see its issue)."""
