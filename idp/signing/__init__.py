"""Per-tenant signing keys: creation, rotation, JWKS."""
