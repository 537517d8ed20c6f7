"""Tests of exohunt.io: one reader per format."""
