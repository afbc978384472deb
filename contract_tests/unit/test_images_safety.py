"""Output images and the safety filter's word lists."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from mock_server.domain.images import SIZES, render_image
from mock_server.domain.safety import BLOCKED_WORDS, is_blocked


@pytest.mark.parametrize("ratio", sorted(SIZES))
@pytest.mark.parametrize(("fmt", "pil"), [("jpg", "JPEG"), ("png", "PNG")])
def test_image_has_the_requested_shape_and_format(ratio: str, fmt: str, pil: str) -> None:
    image = Image.open(io.BytesIO(render_image("a quiet harbour", ratio, fmt)))
    assert image.format == pil
    assert image.size == SIZES[ratio]
    width, height = image.size
    num, den = (int(part) for part in ratio.split(":"))
    assert abs(width / height - num / den) < 0.1


def test_images_are_deterministic_per_prompt() -> None:
    render_image.cache_clear()
    first = render_image("same prompt", "1:1", "png")
    render_image.cache_clear()
    assert render_image("same prompt", "1:1", "png") == first
    assert render_image("another prompt", "1:1", "png") != first


def test_unknown_ratio_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        render_image("x", "2:1", "jpg")


def test_stricter_levels_block_more() -> None:
    high, medium, low = (
        BLOCKED_WORDS[level]
        for level in ("block_only_high", "block_medium_and_above", "block_low_and_above")
    )
    assert high < medium < low


@pytest.mark.parametrize(
    ("prompt", "level", "blocked"),
    [
        ("a gore scene", "block_only_high", True),
        ("a knife on a table", "block_only_high", False),
        ("a knife on a table", "block_medium_and_above", False),
        ("a knife on a table", "block_low_and_above", True),
        ("a NUDE statue", "block_medium_and_above", True),
        ("gunnery practice", "block_low_and_above", False),
        ("a kitten", "block_low_and_above", False),
    ],
)
def test_blocking(prompt: str, level: str, blocked: bool) -> None:
    assert is_blocked(prompt, level) is blocked
