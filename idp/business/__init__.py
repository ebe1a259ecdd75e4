"""The tenant's business and location details, as far as sign-in needs to know they are missing."""
