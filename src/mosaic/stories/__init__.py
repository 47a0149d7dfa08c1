"""Stories: what people remember about a legacy, their revisions, flags and consents."""
