"""``If-Match`` parsing for stories: strong ETags, bare versions, lists, ``*`` and junk."""

from __future__ import annotations

import pytest

from mosaic.stories.errors import StoryChanged
from mosaic.stories.preconditions import IfMatch, etag_of


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        (None, None),
        ("*", None),
        (' "3" ', frozenset({3})),
        ("3", frozenset({3})),
        ('"2", "3"', frozenset({2, 3})),
        ('W/"3"', frozenset()),
        ("three", frozenset()),
        ('"-1"', frozenset()),
        ("9" * 40, frozenset()),
    ],
)
def test_parsing(header: str | None, versions: frozenset[int] | None) -> None:
    assert IfMatch.parse(header).versions == versions


def test_a_named_version_must_be_the_current_one() -> None:
    condition = IfMatch.parse('"3"')

    assert condition.expected(3) == 3
    with pytest.raises(StoryChanged) as raised:
        condition.expected(4)
    assert raised.value.details == {"current_etag": etag_of(4)}


def test_no_condition_expects_whatever_is_current() -> None:
    assert IfMatch.parse(None).expected(7) == 7
    assert not IfMatch.parse(None).given
