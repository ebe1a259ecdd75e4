"""The second factor: TOTP (RFC 6238) with single-use recovery codes."""
