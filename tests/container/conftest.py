import pytest

from images import require_engine_and_images


@pytest.fixture(scope="session", autouse=True)
def _images_built():
    # Container tests need the real images; build them with ./build.sh first (.ci/run does).
    require_engine_and_images()
