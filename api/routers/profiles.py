from typing import Annotated

from fastapi import APIRouter, Response

from api.dependencies import OptionalCaller, RequiredCaller, service
from api.params import Username
from api.responses import json_response
from api.schemas import Profile, ProfileResponse, errors
from api.serving import run_use_case
from application.profiles import ProfileService

router = APIRouter(prefix="/api", tags=["Profile"], responses=errors(404, 422, 503))

Profiles = Annotated[ProfileService, service(ProfileService)]


@router.get("/profiles/{username}", response_model=ProfileResponse, responses=errors(401))
async def get_profile(username: Username, caller: OptionalCaller, profiles: Profiles) -> Response:
    view = await run_use_case(profiles.get, username, caller.user_id if caller else None)
    return json_response(ProfileResponse(profile=Profile.of(view)))


@router.post(
    "/profiles/{username}/follow", response_model=ProfileResponse, responses=errors(401, 403)
)
async def follow(username: Username, caller: RequiredCaller, profiles: Profiles) -> Response:
    view = await run_use_case(profiles.follow, caller, username)
    return json_response(ProfileResponse(profile=Profile.of(view)))


@router.delete("/profiles/{username}/follow", response_model=ProfileResponse, responses=errors(401))
async def unfollow(username: Username, caller: RequiredCaller, profiles: Profiles) -> Response:
    view = await run_use_case(profiles.unfollow, caller, username)
    return json_response(ProfileResponse(profile=Profile.of(view)))
