"""What the twitter slice brings to the app (read by src/magnetiq/registry.py)."""

from features.twitter import api, models
from features.twitter.router import router
from shared.slices import Slice

SLICE = Slice(
    name="twitter",
    routers=(router,),
    models=models,
    jobs=api.JOBS,
    openapi_tags=({"name": "twitter", "description": "X (Twitter): connected accounts, tweets and threads, "
                                                     "scheduling, engagement."},),
)
