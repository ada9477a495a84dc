"""HTTP layer of the email slice (being written)."""

from fastapi import APIRouter

router = APIRouter(tags=["email"])
