"""Response helpers shared by the fake's modules."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Response

__all__ = ["json_response"]

_JSON = "application/json;charset=utf-8"


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """Compact JSON as SuccessFactors sends it (``application/json;charset=utf-8``)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    response = Response(body, status=status, headers=dict(headers or {}))
    response.headers["Content-Type"] = _JSON
    return response
