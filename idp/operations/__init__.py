"""The operator surface that is not a tenant's: metrics."""
