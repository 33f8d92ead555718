"""What every endpoint depends on: the server's parts, the caller, and whose data it acts on.

Tenancy is decided here and nowhere else: a user key acts for its own user (and so does the
token of a Concierge run in flight, stamped by its session's egress route); an admin key acts
for any user (``X-Computerouter-User``, default its own) and may read any resource by id.
A resource of another user is reported as not found, never as forbidden, so a key cannot
learn what exists outside its own account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from computerouter.agents.router import AgentRouter
from computerouter.agents.run_token import TOKEN_PREFIX
from computerouter.api.live_runs import LiveRuns
from computerouter.api.ratelimit import RateLimiter
from computerouter.concierge import Concierge
from computerouter.domain.api_keys import Principal
from computerouter.domain.ids import is_valid_key_part
from computerouter.domain.run_tokens import OPERATOR
from computerouter.domain.session import SessionRecord
from computerouter.errors import Forbidden, InputError, SessionNotFound, Unauthorized
from computerouter.ledger import Ledger
from computerouter.secrets.api_keys import ApiKeys

__all__ = [
    "ActingUser",
    "Admin",
    "Caller",
    "Parts",
    "Server",
    "own_session",
]

USER_HEADER = "X-Computerouter-User"


@dataclass(frozen=True, kw_only=True)
class Parts:
    """The server's parts, made once by ``create_app`` (constructor injection, no globals)."""

    agents: AgentRouter
    keys: ApiKeys
    ledger: Ledger | None
    runs: LiveRuns
    limiter: RateLimiter
    concierge: Concierge | None = None


# The dependencies are ``async def`` because they do no blocking I/O (FastAPI runs a sync one in
# the threadpool, a hop per dependency per request); the one that may read the store, the key
# check, hops to the threadpool only when the key is not remembered (see ApiKeys.cached).


async def _parts(request: Request) -> Parts:
    parts = request.app.state.parts
    assert isinstance(parts, Parts)
    return parts


Server = Annotated[Parts, Depends(_parts)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `computerouter keys create`.")


async def _caller(
    parts: Server,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("no API key: send Authorization: Bearer <key>")
    token = credentials.credentials
    principal = None if token.startswith(f"{TOKEN_PREFIX}_") else parts.keys.cached(token)
    if principal is None:
        check = _operator_run if token.startswith(f"{TOKEN_PREFIX}_") else _key
        principal = await run_in_threadpool(check, parts, token)
    parts.limiter.check(principal.key_id)
    return principal


def _key(parts: Parts, presented: str) -> Principal:
    return parts.keys.authenticate(presented)


def _operator_run(parts: Parts, presented: str) -> Principal:
    """A Concierge run's token acts as its user (never as an admin) while the run is in
    flight; any other run token, or one of a run that ended, is refused."""
    agents = parts.agents
    token = agents.run_tokens.verify_in_flight(presented, agents.compute, audience=OPERATOR)
    return Principal(user_id=token.user_id, key_id=token.id, admin=False)


Caller = Annotated[Principal, Depends(_caller)]


async def _admin(caller: Caller) -> Principal:
    if not caller.admin:
        raise Forbidden("this operation needs an admin key")
    return caller


Admin = Annotated[Principal, Depends(_admin)]


async def _acting_user(
    caller: Caller,
    as_user: Annotated[
        str | None,
        Header(
            alias=USER_HEADER,
            description="Admin keys only: act for this user (default: the key's own).",
        ),
    ] = None,
) -> str:
    if as_user is None or as_user == caller.user_id:
        return caller.user_id
    if not caller.admin:
        raise Forbidden(f"only an admin key may act for another user ({USER_HEADER})")
    if not is_valid_key_part(as_user):
        raise InputError(f"{USER_HEADER} {as_user!r} is not a valid user id")
    return as_user


ActingUser = Annotated[str, Depends(_acting_user)]


def visible(caller: Principal, user_id: str) -> bool:
    return caller.admin or caller.user_id == user_id


def own_session(parts: Parts, caller: Principal, session_id: str) -> SessionRecord:
    record = parts.agents.compute.store.sessions.get(session_id)
    if record is None or not visible(caller, record.user_id):
        raise SessionNotFound(session_id)
    return record
