"""exohunt's tests: one folder per package of src/exohunt, one module per module."""
