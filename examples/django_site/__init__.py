"""A Django project signed in with Redtrust (see manage.py)."""
