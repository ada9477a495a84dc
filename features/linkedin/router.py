"""HTTP layer of /api/v1/communication/linkedin: accounts, posts, images, engagement (staff).

The handlers are the ones every network shares (shared/social_router.py); LinkedIn brings its
modules, its post schemas and what its documentation says differently.
"""

from features.linkedin import accounts, service
from features.linkedin.network import NETWORK
from features.linkedin.schemas import LinkedInPostCreate, LinkedInPostStaffView, LinkedInPostUpdate
from features.media import api as media_api
from shared.social_router import SocialRouterDocs, SocialSlice, social_router

DOCS = SocialRouterDocs(
    authorize="Start connecting a LinkedIn member (admins): open `authorization_url`, then post the redirect's "
    "code, state.",
    connect="Finish connecting (admins): exchange the code for tokens, stored encrypted; 400 INVALID_STATE for a "
    "bad state.",
    create_post="Write a post (editors): a draft, or scheduled with `scheduled_at`; up to 3,000 characters and 9 "
    "images.",
    read_post="One post, with its state and, once published, its URN and link.",
    delete_post="Cancel a draft, scheduled or failed post, or delete a published one at LinkedIn (admins).",
    publish_post="Publish now and answer with the outcome: 200 published, 502 when it failed or its outcome is "
    "unknown.",
    upload_image="Upload an image (multipart `file`, form `account_id`): stored as a media item, sent to LinkedIn "
    "ahead of time.",
    read_post_engagement="A post's latest figures and their history; 403 PROVIDER_ERROR when the app lacks "
    "r_member_postAnalytics.",
    upload_account_id="The account the image is for (its owner)",
    an_account="a LinkedIn account",
)

router = social_router(SocialSlice(
    slug="linkedin", network=NETWORK, accounts=accounts, service=service, media=media_api,
    post_create=LinkedInPostCreate, post_update=LinkedInPostUpdate, post_view=LinkedInPostStaffView, docs=DOCS,
))
