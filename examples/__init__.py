"""Runnable example apps; see the README."""
