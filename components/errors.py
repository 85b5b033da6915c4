"""Errors a stack's user causes and can fix. Free of imports, so the operator CLI catches them without loading
pydantic or Pulumi."""

from __future__ import annotations


class ConfigError(ValueError):
    """A stack config value is missing or wrong; the message names the key and the fix."""
