"""The export archive: a ZIP of the user's stories as Markdown with front matter, one folder
per legacy, a manifest of their media and a README (seed 002: "all user's stories as Markdown
ZIP", for data portability).

The archive is written entry by entry into a spooled temporary file (memory up to a small
size, then disk), so a large export never sits whole in memory; the route streams the file.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from tempfile import SpooledTemporaryFile
from typing import IO, Any

from mosaic.privacy.repository import ExportedMedia, ExportedStory

_SPOOL_IN_MEMORY_BYTES = 4 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024
_SLUG_UNSAFE = re.compile(r"[^a-z0-9]+")

README = """\
Your stories from Mosaic
========================

Exported {exported_at} for {display_name}.

stories/<legacy>/        one folder per legacy, one Markdown file per story you wrote.
                         Each file starts with front matter (between the --- lines):
                         title, legacy, visibility, tags, created, updated and version.
                         Every value is written as JSON, which YAML readers accept as is.
media/manifest.json      every file you uploaded: name, content type, size, SHA-256,
                         legacy and when it was uploaded. The files themselves are
                         downloaded from Mosaic one by one.

This archive holds what you wrote in this community only. The complete record of what
Mosaic holds about you is at GET /api/v1/me/personal-data.
"""


def slugify(text: str, *, fallback: str) -> str:
    """A file-system-safe name: lower-case ASCII letters, digits and dashes."""
    slug = _SLUG_UNSAFE.sub("-", text.lower()).strip("-")[:60].strip("-")
    return slug or fallback


def front_matter(entry: ExportedStory) -> str:
    """YAML front matter whose values are JSON (a subset of YAML), so any reader parses it."""
    story = entry.story
    fields: dict[str, Any] = {
        "title": story.title,
        "legacy": entry.legacy_name,
        "legacy_slug": entry.legacy_slug,
        "visibility": story.visibility.value,
        "tags": list(story.tags or []),
        "created": story.created_at.isoformat(),
        "updated": story.updated_at.isoformat(),
        "version": story.version,
        "id": str(story.id),
    }
    lines = [f"{name}: {json.dumps(value, ensure_ascii=False)}" for name, value in fields.items()]
    return "---\n" + "\n".join(lines) + "\n---\n\n"


def story_path(entry: ExportedStory) -> str:
    story = entry.story
    legacy = slugify(entry.legacy_slug, fallback="legacy")
    title = slugify(story.title, fallback="story")
    return f"stories/{legacy}/{story.created_at:%Y-%m-%d}-{title}-{str(story.id)[:8]}.md"


def manifest_entry(entry: ExportedMedia) -> dict[str, Any]:
    media = entry.media
    return {
        "id": str(media.id),
        "filename": media.filename,
        "content_type": media.content_type,
        "size_bytes": media.size_bytes,
        "sha256": media.sha256,
        "legacy": entry.legacy_slug,
        "state": media.state.value,
        "created": media.created_at.isoformat(),
    }


async def write_archive(
    *,
    display_name: str,
    stories: AsyncIterator[ExportedStory],
    media: AsyncIterator[ExportedMedia],
) -> IO[bytes]:
    """The archive in a spooled temporary file, rewound; the caller closes it."""
    spool: IO[bytes] = SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
    with zipfile.ZipFile(spool, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        exported_at = datetime.now(UTC).isoformat(timespec="seconds")
        archive.writestr(
            "README.txt", README.format(exported_at=exported_at, display_name=display_name)
        )
        used: set[str] = set()
        async for entry in stories:
            path = story_path(entry)
            if path in used:  # same day, same title, same id prefix: keep both
                path = path.removesuffix(".md") + f"-{entry.story.id}.md"
            used.add(path)
            archive.writestr(path, front_matter(entry) + entry.story.content + "\n")
        manifest = [manifest_entry(entry) async for entry in media]
        archive.writestr(
            "media/manifest.json", json.dumps({"media": manifest}, indent=2, ensure_ascii=False)
        )
    spool.seek(0)
    return spool


def chunks(spool: IO[bytes]) -> Iterator[bytes]:
    """The archive's bytes in chunks, closing the file at the end (or when the client goes)."""
    try:
        while chunk := spool.read(_CHUNK_BYTES):
            yield chunk
    finally:
        spool.close()
