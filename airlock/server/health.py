"""/health: 200 once the store is migrated and the registry is loaded (the app is up)."""

from fastapi import APIRouter

from airlock.server.json_response import WireJSON

router = APIRouter()


@router.get("/health")
def health() -> WireJSON:
    return WireJSON({"status": "ok"})
