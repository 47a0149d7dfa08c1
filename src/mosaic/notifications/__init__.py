"""Email notifications: an event consumer that tells people what they need to act on."""
