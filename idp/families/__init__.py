"""Families: a primary guardian invites secondary members with view-only access; a person in
several families picks one per sign-in (docs/decisions/families.md)."""
