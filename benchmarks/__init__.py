"""Performance benchmarks (not shipped). Run ``python -m benchmarks`` or ``make bench``."""
