"""The state machine definition: a plain ASL file with ``${Name}`` placeholders, rendered here."""

from __future__ import annotations

import json
import re
from pathlib import Path
from string import Template
from typing import ClassVar

DEFINITION_PATH = Path(__file__).with_name("pipeline.asl.json")
SUBSTITUTIONS = (
    "DecodeFunctionArn",
    "DiffFunctionArn",
    "WriteAuditFunctionArn",
    "NotifyFunctionArn",
    "ArchiveRoleArn",
    "ArchiveBucketName",
    "ArchiveAccountId",
    "PipelineAccountId",
    "DeadLetterQueueUrl",
    "PayloadBucketName",
)


_PLACEHOLDER = r"""
        (?P<escaped>(?!x)x) |
        \$\{(?P<braced>[A-Za-z][A-Za-z0-9]*)\} |
        (?P<named>(?!x)x) |
        (?P<invalid>(?!x)x)
    """


class AslTemplate(Template):
    """Only ``${Name}`` is a placeholder: JSONPath's ``$`` and ``$$`` stay as written."""

    # A str, as Template wants it: the class compiles it (flags | VERBOSE) when it is made; typeshed types it compiled.
    pattern: ClassVar[re.Pattern[str]] = _PLACEHOLDER  # type: ignore[assignment]


def placeholders() -> set[str]:
    """The names the definition file uses."""
    return {match.group("braced") for match in AslTemplate.pattern.finditer(DEFINITION_PATH.read_text())}


def render(substitutions: dict[str, str]) -> str:
    """The definition with every placeholder filled; a missing or unknown name fails loudly."""
    unknown = set(substitutions) - set(SUBSTITUTIONS)
    if unknown:
        raise KeyError(f"unknown substitutions: {sorted(unknown)}")
    rendered = AslTemplate(DEFINITION_PATH.read_text()).substitute(substitutions)
    return json.dumps(json.loads(rendered), indent=2)
