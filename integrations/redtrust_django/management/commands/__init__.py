"""``manage.py redtrust_doctor``."""
