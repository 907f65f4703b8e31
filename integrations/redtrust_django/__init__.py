"""Django integration for redtrust-middleware (see its issue)."""
