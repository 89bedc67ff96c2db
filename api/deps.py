"""Dependencies of the route handlers, as ``Annotated`` aliases (``StoreDep``, ``AdminDep``...)."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from antibot.store.redis import Store

from .auth import Principal
from .context import ApiContext

bearer = HTTPBearer(auto_error=False, description="an admin or viewer API token")
AUTHENTICATE = {"WWW-Authenticate": "Bearer"}


def get_context(request: Request) -> ApiContext:
    return cast(ApiContext, request.app.state.ctx)


ContextDep = Annotated[ApiContext, Depends(get_context)]


async def get_store(ctx: ContextDep) -> Store:
    return await ctx.stores.get()


StoreDep = Annotated[Store, Depends(get_store)]


def current_principal(
    ctx: ContextDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers=AUTHENTICATE)
    principal = ctx.tokens.authenticate(credentials.credentials)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token", headers=AUTHENTICATE)
    return principal


ViewerDep = Annotated[Principal, Depends(current_principal)]


def require_admin(principal: ViewerDep) -> Principal:
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs an admin token")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


def expected_version(
    if_match: Annotated[
        str | None,
        Header(max_length=64, description='policy version the change is based on, e.g. "7" (412 if it moved on)'),
    ] = None,
) -> int | None:
    """The ``If-Match`` policy version (``"7"``, ``W/"7"`` or ``7``); None when absent or ``*``."""
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit() or len(text) > 15:
        raise HTTPException(422, 'If-Match must be the policy version to change, e.g. "7"')
    return int(text)


IfMatchDep = Annotated[int | None, Depends(expected_version)]
