"""What both serving engines answer HTTP with, apart from either: JSON responses and size-limited bodies."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from .api import ApiError

DRAIN_BYTES = 64 * 2**20  # an oversized body is read and dropped up to here, so the client reads its 413


def json_response(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON with non-ASCII escaped: an echoed lone surrogate cannot break the encoding."""
    return Response(json.dumps(payload), status_code=status, media_type="application/json", headers=headers)


async def read_limited(http: HttpRequest, limit: int) -> bytes:
    """The body, or 413 once it passes ``limit`` bytes. The rest of an oversized body is read and dropped
    (up to DRAIN_BYTES) before answering: a client that writes its whole body before reading, as most do,
    would otherwise see the connection reset instead of the 413 and its message."""
    chunks, size = [], 0
    async for chunk in http.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > DRAIN_BYTES:
            break
    if size > limit:
        declared = http.headers.get("content-length", "")
        raise ApiError(413, f"body of {declared or f'over {size}'} bytes: the limit is {limit}")
    return b"".join(chunks)
