"""Provisioning: making a tenant with everything it needs, and applying tenant files.

It sits above the domains it combines (tenancy, signing, accounts, business, oauth clients), so
none of them needs to know the others; `idp tenant create` and `idp tenant apply` come here.
"""
