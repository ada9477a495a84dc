"""What the twitter slice brings to the app (read by src/magnetiq/registry.py).

So far the X protocol (client.py) and the rules of a tweet (segments.py); the accounts and
content routes come with the shared publishing kernel.
"""

from features.twitter import models
from shared.slices import Slice

SLICE = Slice(name="twitter", models=models)
