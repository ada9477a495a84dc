from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI

from shared.permissions import CanRead, OptionalPrincipal, Principal, declare_optional_security, optional_principal


def _schema_of(app: FastAPI) -> dict:
    schema = app.openapi()
    declare_optional_security(schema, app.routes)
    return schema["paths"]


def test_optional_principal_is_declared_optional_wherever_it_sits_in_the_dependency_tree():
    async def staff_or_visitor(principal: OptionalPrincipal) -> Principal | None:
        return principal

    router = APIRouter(prefix="/nested")

    @router.get("/direct")
    async def direct(principal: OptionalPrincipal) -> None: ...

    @router.get("/deeper")
    async def deeper(principal: Annotated[Principal | None, Depends(staff_or_visitor)]) -> None: ...

    @router.get("/required")
    async def required(principal: CanRead) -> None: ...

    @router.get("/both", dependencies=[Depends(optional_principal)])
    async def both(principal: CanRead) -> None: ...

    @router.get("/public")
    async def public() -> None: ...

    app = FastAPI()
    app.include_router(router, prefix="/api")
    paths = _schema_of(app)
    optional = [{}, {"HTTPBearer": []}]
    assert paths["/api/nested/direct"]["get"]["security"] == optional
    assert paths["/api/nested/deeper"]["get"]["security"] == optional
    assert paths["/api/nested/required"]["get"]["security"] == [{"HTTPBearer": []}]
    assert paths["/api/nested/both"]["get"]["security"] == [{"HTTPBearer": []}]  # a required token wins
    assert "security" not in paths["/api/nested/public"]["get"]


def test_a_routers_own_optional_dependency_counts_too():
    router = APIRouter(prefix="/r", dependencies=[Depends(optional_principal)])

    @router.get("/item")
    async def item() -> None: ...

    app = FastAPI()
    app.include_router(router)
    paths = _schema_of(app)
    assert paths["/r/item"]["get"]["security"] == [{}, {"HTTPBearer": []}]
