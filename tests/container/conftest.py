import pytest

from images import SERVE_IMAGES, require_engine_and_images


@pytest.fixture(scope="session", autouse=True)
def _images_built():
    # Container tests need the real images; build them with ./build.sh first (.ci/run does).
    require_engine_and_images()


@pytest.fixture(params=sorted(SERVE_IMAGES), scope="module")
def serve_image(request):
    """Each inference image in turn (the CUDA one and the CPU one), for the tests where the torch
    build may matter: loading and running a model, batch transform, multi-model loads."""
    return SERVE_IMAGES[request.param]
