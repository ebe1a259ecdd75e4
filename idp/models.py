"""Every model, imported in one place for Alembic and the schema checks."""

from idp.accounts.link_models import AccountLink
from idp.accounts.models import User
from idp.audit.models import AuditEvent
from idp.business.models import BusinessDetails, Location
from idp.families.models import AdultAttestation, Family, FamilyChoice, FamilyInvitation, FamilyMember
from idp.federation.models import (
    Connection,
    ConnectionDomain,
    FederatedIdentity,
    FederatedSignIn,
    SamlAssertion,
    SamlSettings,
)
from idp.mail.models import DeliveryAttempt, OutboxMessage
from idp.mfa.models import RecoveryCode, SecondFactor
from idp.oauth.models import (
    AuthorizationCode,
    AuthorizationRequest,
    Client,
    Consent,
    Grant,
    InitialAccessToken,
    LogoutDelivery,
    RefreshToken,
    RevokedAccessToken,
    UsedClientAssertion,
)
from idp.policies.models import PolicyAcceptance, PolicyDocument
from idp.sessions.models import BrowserSession
from idp.signing.models import SigningKey
from idp.tenancy.models import Tenant
from idp.throttling.models import ThrottleCounter

__all__ = [
    "AdultAttestation",
    "Family",
    "FamilyChoice",
    "FamilyInvitation",
    "FamilyMember",
    "AuditEvent",
    "BusinessDetails",
    "Location",
    "PolicyAcceptance",
    "PolicyDocument",
    "RecoveryCode",
    "SecondFactor",
    "AccountLink",
    "DeliveryAttempt",
    "OutboxMessage",
    "AuthorizationCode",
    "AuthorizationRequest",
    "BrowserSession",
    "Client",
    "Connection",
    "ConnectionDomain",
    "FederatedIdentity",
    "FederatedSignIn",
    "Consent",
    "Grant",
    "InitialAccessToken",
    "LogoutDelivery",
    "RefreshToken",
    "RevokedAccessToken",
    "SamlAssertion",
    "SamlSettings",
    "ThrottleCounter",
    "SigningKey",
    "Tenant",
    "UsedClientAssertion",
    "User",
]
