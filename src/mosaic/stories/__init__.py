"""Stories: Markdown about a legacy, its revisions, moderation flags and consent records."""
