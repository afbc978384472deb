"""Values every layer of the tests uses: the token and auth header, the create path, the repo."""

from __future__ import annotations

from pathlib import Path
from typing import Final

TOKEN: Final = "r8_TestToken0123456789"
AUTH: Final = {"Authorization": f"Bearer {TOKEN}"}
CREATE: Final = "/v1/models/google/imagen-4-ultra/predictions"
REPO: Final = Path(__file__).resolve().parents[2]
SPEC: Final = REPO / "openapi" / "openapi.yaml"
