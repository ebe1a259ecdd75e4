"""The sign-in pages and, later, the pipeline that runs after the password."""
