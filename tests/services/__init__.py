"""Tests of exohunt.services: the tracking server, sweeps, the UI, chunked features."""
