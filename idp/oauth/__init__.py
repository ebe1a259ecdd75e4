"""OAuth 2.0 and OpenID Connect: the only package that imports Authlib's server side."""
