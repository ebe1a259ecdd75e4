"""Settings read in idp/config.py: defaults, accepted values and refusals that name the setting."""

from __future__ import annotations

import pytest

from idp.config import ConfigError, load_config

BASE_ENV = {"IDP_MASTER_KEY": "A" * 43 + "="}


def test_access_tokens_default_to_es256_and_rs256_can_be_chosen() -> None:
    assert load_config(BASE_ENV).access_token_alg == "ES256"
    assert load_config({**BASE_ENV, "IDP_ACCESS_TOKEN_ALG": "RS256"}).access_token_alg == "RS256"


@pytest.mark.parametrize("value", ["none", "HS256", "es256", "PS256", "RS256 "])
def test_an_access_token_algorithm_without_a_tenant_key_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="IDP_ACCESS_TOKEN_ALG must be ES256 or RS256"):
        load_config({**BASE_ENV, "IDP_ACCESS_TOKEN_ALG": value})
