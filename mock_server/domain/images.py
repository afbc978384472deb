"""The output image: a real JPEG or PNG of the requested shape, with the prompt drawn on it.

The same prompt, aspect ratio and format always give the same bytes, so a
prediction's output is stable however often it is fetched.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
from functools import lru_cache
from typing import Final

__all__ = ["MEDIA_TYPES", "SIZES", "render_image"]

#: Pixel size for each ``aspect_ratio`` (Imagen 4's 1K sizes).
SIZES: Final[dict[str, tuple[int, int]]] = {
    "1:1": (1024, 1024),
    "9:16": (768, 1408),
    "16:9": (1408, 768),
    "3:4": (896, 1280),
    "4:3": (1280, 896),
}
#: Content type for each ``output_format``.
MEDIA_TYPES: Final[dict[str, str]] = {"jpg": "image/jpeg", "png": "image/png"}
_PIL_FORMATS: Final = {"jpg": "JPEG", "png": "PNG"}


@lru_cache(maxsize=64)
def render_image(prompt: str, aspect_ratio: str, output_format: str) -> bytes:
    """Encode the image for a prediction.

    Raises:
        KeyError: for an aspect ratio or format the model does not offer.
    """
    # Pillow is imported on the first image, not at start-up (it takes about 0.1 s).
    from PIL import Image, ImageDraw, ImageFont

    width, height = SIZES[aspect_ratio]
    pil_format = _PIL_FORMATS[output_format]
    digest = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).digest()
    top, bottom = tuple(digest[:3]), tuple(digest[3:6])
    image = Image.linear_gradient("L").resize((width, height))
    image = Image.merge(
        "RGB",
        [
            image.point(lambda v, a=a, b=b: a + (b - a) * v // 255)
            for a, b in zip(top, bottom, strict=True)
        ],
    )
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(width // 28, 12))
    lines = textwrap.wrap(prompt, width=40, max_lines=12, placeholder=" ...") or [""]
    draw.multiline_text(
        (width // 16, height // 16),
        "\n".join(lines),
        font=font,
        fill=(255, 255, 255),
        stroke_width=2,
        stroke_fill=(0, 0, 0),
        spacing=width // 80,
    )
    buffer = io.BytesIO()
    image.save(buffer, format=pil_format, **({"quality": 85} if pil_format == "JPEG" else {}))
    return buffer.getvalue()
