"""People: users, pools, passwords and email rules."""
