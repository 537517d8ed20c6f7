"""exohunt's version, in a module of its own: anything may import it without importing the package
root (and what the root exposes lazily)."""

__version__ = "0.1.0"
