"""Benchmarks of a running Portcullis (see bench/README.md)."""
