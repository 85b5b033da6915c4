"""changetrail operator tools: the embedded local AWS and the ``changetrail`` CLI."""

__version__ = "0.1.0"
