"""Management commands of the Redtrust app."""
