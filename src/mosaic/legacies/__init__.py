"""Legacies: the people and subjects a community remembers, their members and invitations."""
