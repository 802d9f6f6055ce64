"""Benchmarks of the hot paths; each returns a JSON-ready dict."""
