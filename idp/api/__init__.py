"""The tenant admin API (`/api/v1/…` under a tenant's issuer), protected by OAuth access tokens."""
