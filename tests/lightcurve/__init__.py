"""Tests of exohunt.lightcurve: the transit science, on arrays."""
