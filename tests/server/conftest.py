"""Fixtures of the server tests: a trained model and the endpoint plugin (serving_fixtures)."""
from serving_fixtures import clean_imports, plugin_jar, trained_model  # noqa: F401
