"""Shared fixtures: where the real media live, and a skip when they are absent."""

from pathlib import Path

import pytest

SHARED_MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"


@pytest.fixture(scope="session")
def shared_media() -> Path:
    """Path of ../shared/media; the test is skipped when it is absent (a user's clone)."""
    if not SHARED_MEDIA.is_dir():
        pytest.skip("../shared/media is absent: real-media tests need the project's shared clips")
    return SHARED_MEDIA
