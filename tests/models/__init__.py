"""Tests of exohunt.models: the registry's estimators."""
