"""The sign-in pipeline: ordered steps between authentication and the code going back to the
relying party (node-oidc-provider calls them interactions and its list the interaction policy).

Each step answers one question — "does this person need to see me now?" — from server-side
state only (the session, the person, the pending authorization request), and if so names the
page that handles it. The pipeline is asked again after every step and again by the
authorization endpoint before it issues a code, so no step can be skipped by editing a URL or
replaying a form: a step is done only when the state it checks says so.

The protocol owns the mechanism; the steps are the sign-in pages' (second factor, terms, notices),
so the app registers them (`init_app`, in `idp/app.py`) and nothing here imports a step. Adding
a step means adding it to that list; no other step changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from flask import Flask, current_app

from idp.accounts.models import User
from idp.oauth.models import AuthorizationRequest
from idp.sessions.models import BrowserSession
from idp.tenancy.models import Tenant


@dataclass(frozen=True)
class Context:
    tenant: Tenant
    user: User
    session: BrowserSession
    request_id: str | None  # the pending authorization request, when an app asked
    acr_values: tuple[str, ...] = ()  # what the app asked for (e.g. two-factor step-up)
    prompts: tuple[str, ...] = ()  # the app's `prompt` values (e.g. select_account)
    selected: bool = False  # the person answered the account picker for this request


def context_of(tenant: Tenant, user: User, session: BrowserSession,
               pending: AuthorizationRequest | None) -> Context:
    """The pipeline's context for this person, with what the pending request (if any) asked."""
    if pending is None:
        return Context(tenant, user, session, None)
    params = pending.params
    return Context(tenant, user, session, pending.id, tuple(params.get("acr_values", "").split()),
                   tuple(params.get("prompt", "").split()), pending.selected_at is not None)


class Step(Protocol):
    name: str
    blocking: bool  # the person may not use anything before it is done (a notice is not)

    def needed(self, ctx: Context) -> bool:
        """Whether this person must see this step now (no side effects)."""

    def url(self, ctx: Context) -> str:
        """The page that handles the step; it carries `ctx.request_id` on."""


STEPS_KEY = "idp.sign_in_steps"


def init_app(app: Flask, steps: Sequence[Step]) -> None:
    """The app's steps, in the order a person meets them."""
    app.extensions[STEPS_KEY] = list(steps)


def registered_steps() -> list[Step]:
    steps: list[Step] = current_app.extensions[STEPS_KEY]
    return steps


def next_step_url(ctx: Context, steps: Sequence[Step] | None = None, *, blocking_only: bool = False) -> str | None:
    """The page of the first step still needed, or None when the person may go on."""
    for step in registered_steps() if steps is None else steps:
        if (step.blocking or not blocking_only) and step.needed(ctx):
            return step.url(ctx)
    return None


def blocking_step_before(name: str, ctx: Context, steps: Sequence[Step] | None = None) -> str | None:
    """The page of a blocking step before step `name` that is still needed, else None.

    Steps are done in order: a step's page is only for someone past every blocking step before
    it, so a password alone cannot accept the terms (or subscribe to the newsletter) for the
    person whose second factor has not been given yet.
    """
    for step in registered_steps() if steps is None else steps:
        if step.name == name:
            return None
        if step.blocking and step.needed(ctx):
            return step.url(ctx)
    return None
