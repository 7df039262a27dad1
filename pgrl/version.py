"""pgrl's version (its own module, so that any module may read it without importing the package root)."""

__version__ = "0.1.0"
