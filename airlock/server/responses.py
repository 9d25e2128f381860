"""/v1/responses"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/responses", tags=["responses"])
