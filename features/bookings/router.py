from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/business/bookings", tags=["bookings"])
public_router = APIRouter(prefix="/api/v1/public/bookings", tags=["bookings"])
