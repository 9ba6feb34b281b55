import pytest

from images import SERVE_IMAGE, TRAIN_IMAGE, engine_answers, image_exists


@pytest.fixture(scope="session", autouse=True)
def _images_built():
    # Container tests need the real images; build them with ./build.sh first (.ci/run does).
    if not engine_answers():
        pytest.fail("no Docker engine answers: run scripts/install-docker-engine.sh")
    missing = [name for name in (TRAIN_IMAGE, SERVE_IMAGE) if not image_exists(name)]
    if missing:
        pytest.fail("images not built: %s; run ./build.sh" % ", ".join(missing))
