"""Suite-wide settings: bounded property tests in `make test`, long ones in `make fuzz`."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption(
        "--moto-gaps",
        action="store_true",
        help="collect tests/moto_gaps: checks that moto alone still differs from AWS where the embedded AWS patches it",
    )


def pytest_ignore_collect(collection_path, config):
    """The moto-gap checks assert a dependency's bug: they must never turn a green build red, so only
    `make test-latest` (``--moto-gaps``) runs them, to say which embedded patch a new moto makes unnecessary."""
    if "moto_gaps" in collection_path.parts and not config.getoption("--moto-gaps"):
        return True
    return None
