"""What every page shares: CSRF, security headers, error pages, per-tenant templates."""
