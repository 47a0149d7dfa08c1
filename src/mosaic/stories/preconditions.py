"""``If-Match`` for stories: the ETag a read returned (``"3"``) or the bare version (``3``).

A story's ETag is its version, so a client that read version 3 sends ``If-Match: "3"`` and
its write goes through only while the story is still at version 3.
"""

from __future__ import annotations

from dataclasses import dataclass

from mosaic.stories.errors import StoryChanged


def etag_of(version: int) -> str:
    """The strong ETag of a story at ``version``."""
    return f'"{version}"'


@dataclass(frozen=True)
class IfMatch:
    """The versions a write is conditioned on; ``None`` when the client set no condition."""

    versions: frozenset[int] | None

    @classmethod
    def parse(cls, header: str | None) -> IfMatch:
        """``*`` and a missing header set no condition; a value that names no version can
        never match, so it fails like a stale one (412) rather than being ignored."""
        if header is None or header.strip() == "*":
            return cls(None)
        versions = set()
        for candidate in header.split(","):
            # RFC 9110: If-Match uses the strong comparison, a weak tag never matches.
            value = candidate.strip()
            if value.startswith('"') and value.endswith('"') and len(value) >= 2:
                value = value[1:-1]
            if value.isascii() and value.isdigit() and len(value) <= 18:
                versions.add(int(value))
        return cls(frozenset(versions))

    @property
    def given(self) -> bool:
        return self.versions is not None

    def expected(self, current: int) -> int:
        """The version the compare-and-set expects; ``StoryChanged`` when ``current`` is
        not one the client named."""
        if self.versions is not None and current not in self.versions:
            raise StoryChanged(details={"current_etag": etag_of(current)})
        return current
