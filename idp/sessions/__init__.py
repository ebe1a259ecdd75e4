"""Browser sessions: server-side rows; the cookie carries only a random id."""
