"""Files at stable public URLs: immutable names, so browsers and proxies may cache them for a year."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from features.media import service
from shared.config import Settings
from shared.errors import NotFound, error_responses
from shared.http import file_response

router = APIRouter(prefix=service.PUBLIC_PATH, tags=["public media"], responses=error_responses(422, 500))

StoredName = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}\.[a-z0-9]{2,5}$", description="The name in `url`")]


@router.get(
    "/{stored_name}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file"},
               206: {"description": "Part of the file (Range request)"}, **error_responses(404, 416)},
)
async def serve_media(stored_name: StoredName, request: Request) -> FileResponse:
    """The file itself; images inline, documents as attachments; supports Range requests."""
    settings: Settings = request.app.state.settings
    async with request.app.state.db.session(write=False) as session:
        item = await service.find_public_file(session, stored_name=stored_name)
    path = Path(settings.upload_dir) / stored_name
    if item is None or not path.is_file():
        raise NotFound("File not found")
    return file_response(
        request,
        path,
        media_type=item.mime_type,
        filename=item.filename,
        disposition="inline" if item.kind == "image" else "attachment",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=31536000, immutable"},
    )
