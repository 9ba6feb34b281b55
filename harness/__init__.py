"""What the tests and the benchmarks both run on the host: a small real model, request bodies in
every content type, and a multi-model-server started as `serve` starts it.

tests/ and bench/ both import this package; neither imports the other.
"""
