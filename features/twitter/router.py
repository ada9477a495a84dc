"""HTTP layer of /api/v1/communication/twitter: accounts, tweets and threads, images, engagement (staff).

The handlers are the ones every network shares (shared/social_router.py); X brings its modules,
its post schemas (a post is segments: a tweet or a thread) and what its documentation says differently.
"""

from features.media import api as media_api
from features.twitter import accounts, service
from features.twitter.network import NETWORK
from features.twitter.schemas import TwitterPostCreate, TwitterPostStaffView, TwitterPostUpdate
from shared.social_router import SocialRouterDocs, SocialSlice, social_router

DOCS = SocialRouterDocs(
    authorize="Start connecting an X account (admins): open `authorization_url`, then post the redirect's code, "
    "state.",
    connect="Finish connecting (admins): the code and PKCE verifier for tokens, stored encrypted; 400 INVALID_STATE.",
    create_post="Write a tweet or a thread (editors): a draft, or scheduled with `scheduled_at`; 422 names a bad "
    "segment.",
    read_post="One post, with its state and each segment's tweet id and link once X took it.",
    delete_post="Cancel a draft or scheduled post, or delete a published one's tweets at X (admins).",
    publish_post="Publish now (a thread resumes at its first segment X has not taken): 200 published, 502 failed or "
    "unknown.",
    upload_image="Upload an image (multipart `file`, form `account_id`): a media item, sent to X ahead of time (kept "
    "a day).",
    read_post_engagement="A post's latest figures (a thread's tweets summed) and their history.",
    upload_account_id="The X account the image is for (its owner)",
    an_account="an X account",
)

router = social_router(SocialSlice(
    slug="twitter", network=NETWORK, accounts=accounts, service=service, media=media_api,
    post_create=TwitterPostCreate, post_update=TwitterPostUpdate, post_view=TwitterPostStaffView, docs=DOCS,
))
