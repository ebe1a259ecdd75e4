"""Portcullis: a multi-tenant OpenID Connect identity provider."""
