"""Redtrust Certificate Enroll for Python web apps."""
