"""Platform Terms & Conditions and Privacy Policy: published versions and each person's acceptance."""
