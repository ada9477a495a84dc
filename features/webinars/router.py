from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/business/webinars", tags=["webinars"])
