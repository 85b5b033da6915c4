"""Restore names one item: the key given must be the archived change's own key, part by part."""

from __future__ import annotations

import pytest

from changetrail.restore import RestoreError, check_key
from functions.decode import item_key


def line(*parts: str) -> dict:
    return {"itemKeyParts": dict(zip(("pk", "sk"), parts, strict=False))}


def test_an_escaped_composite_key_names_its_item():
    check_key("a\\|b|c", line("a|b", "c"))
    check_key("a|b\\|c", line("a", "b|c"))


def test_a_hash_only_key_is_its_plain_value_even_with_the_separator_inside():
    check_key("a|b", line("a|b"))


@pytest.mark.parametrize(("given", "parts"), [("a|b|c", ("a|b", "c")), ("a|b|c", ("a", "b|c"))])
def test_an_unescaped_key_that_could_name_two_items_is_refused_with_the_key_to_give(given, parts):
    with pytest.raises(RestoreError, match="does not name one item unambiguously") as refused:
        check_key(given, line(*parts))

    assert f"give that item's key as {item_key(list(parts))!r}" in str(refused.value)
