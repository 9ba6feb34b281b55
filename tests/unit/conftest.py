"""Fixtures the unit tests share."""
import pytest

import offline_aws


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory):
    """The cloud scripts' SDK kept on this machine for a test module (offline_aws.sdk_offline):
    the guard's `refused` lists any request that tried to leave."""
    with offline_aws.sdk_offline(tmp_path_factory.mktemp("sdk")) as guard:
        yield guard
