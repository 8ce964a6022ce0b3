"""Framework-free services of the core.

They take a SQLAlchemy ``Session``, only flush, and raise :mod:`plugin.errors` on bad
input — the caller (view or CLI) commits once.
"""
