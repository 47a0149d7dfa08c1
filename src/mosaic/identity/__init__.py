"""Identity: tenants, credentials and the principal of each request."""
