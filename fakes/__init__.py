"""Fake vendor servers (Flask apps) for tests, demos and benchmarks; independent of Tandem."""
