"""Every model, imported in one place for Alembic and the schema checks."""

from idp.accounts.models import User
from idp.login.models import SignInFailures
from idp.oauth.models import Client
from idp.sessions.models import BrowserSession
from idp.signing.models import SigningKey
from idp.tenancy.models import Tenant

__all__ = ["BrowserSession", "Client", "SignInFailures", "SigningKey", "Tenant", "User"]
