from typing import Annotated

from fastapi import APIRouter, Response

from api.dependencies import PresentedToken, RequiredCaller, service
from api.middleware import HASHES_PASSWORD
from api.protection import LIMITED_PER_ADDRESS
from api.responses import json_response
from api.schemas import LoginUserRequest, NewUserRequest, UpdateUserRequest, UserResponse, errors
from api.serving import run_use_case
from application.users import UserChanges, UserService

router = APIRouter(prefix="/api", tags=["User and Authentication"], responses=errors(503))

Users = Annotated[UserService, service(UserService)]

# Registration and login hash a password and are limited per client address; the update
# hashes one when it changes it (api.middleware.Admission, api.protection.AddressRateLimit).
SIGNS_IN = {HASHES_PASSWORD: True, LIMITED_PER_ADDRESS: True}


@router.post(
    "/users",
    status_code=201,
    response_model=UserResponse,
    responses=errors(400, 413, 422, 429),
    openapi_extra=SIGNS_IN,
)
async def register(request: NewUserRequest, users: Users) -> Response:
    new = request.user
    result = await run_use_case(
        users.register, username=new.username, email=new.email, password=new.password
    )
    return json_response(UserResponse.of(result.user, result.token), status_code=201)


@router.post(
    "/users/login",
    response_model=UserResponse,
    responses=errors(400, 401, 413, 422, 429),
    openapi_extra=SIGNS_IN,
)
async def login(request: LoginUserRequest, users: Users) -> Response:
    result = await run_use_case(
        users.login, email=request.user.email, password=request.user.password
    )
    return json_response(UserResponse.of(result.user, result.token))


@router.get("/user", response_model=UserResponse, responses=errors(401))
async def current_user(caller: RequiredCaller, token: PresentedToken, users: Users) -> Response:
    return json_response(UserResponse.of(await run_use_case(users.current, caller), token))


@router.put(
    "/user",
    response_model=UserResponse,
    responses=errors(400, 401, 413, 422),
    openapi_extra={HASHES_PASSWORD: True},
)
async def update_user(
    request: UpdateUserRequest, caller: RequiredCaller, token: PresentedToken, users: Users
) -> Response:
    """A new password ends every earlier session: the response then carries a new token."""
    changes = UserChanges(**request.user.model_dump(exclude_none=True))
    updated = await run_use_case(users.update, caller, changes)
    return json_response(UserResponse.of(updated.user, updated.token or token))
