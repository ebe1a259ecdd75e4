"""Recovery: "Forgot password?", "set your password" for invited people, email verification, and
the pages their mailed links open. It combines accounts (links, passwords), mail and signing out
everywhere, so it sits above the protocol (docs/architecture.md)."""
