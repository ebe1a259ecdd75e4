"""Tenants: account names, resolution from host or path, issuers."""
