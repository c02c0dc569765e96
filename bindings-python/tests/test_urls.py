"""The core's URL rules as Python sees them: user info in base_url refused without echoing the password, request
paths kept under the base, one rule for a path without its leading slash."""

from __future__ import annotations

import pickle
import traceback

import pytest

import cozefallback
from conftest import Mock

PASSWORD = "pw-py-userinfo-secret"


@pytest.mark.parametrize("client_class", [cozefallback.Client, cozefallback.AsyncClient])
def test_base_url_with_user_info_is_refused_without_the_password(client_class: type) -> None:
    config = {
        "base_url": f"http://admin:{PASSWORD}@127.0.0.1:9",
        "personal": {"type": "pat", "token": "pat_userinfo_test"},
    }
    with pytest.raises(cozefallback.ConfigError) as info:
        client_class(config)
    err = info.value
    assert err.field == "base_url"
    assert "user name or password" in str(err)
    shown = " ".join(
        [str(err), repr(err), repr(err.args), str(err.field), "".join(traceback.format_exception(type(err), err, err.__traceback__))]
    )
    assert PASSWORD not in shown
    assert PASSWORD.encode() not in pickle.dumps(err)


def test_paths_follow_the_core_rules(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    # No leading slash: the same path.
    assert client.get(f"v1/bots/{mock.bot}").status == 200
    for bad in ["/../v1/bots", "/%2E%2e/v1/bots", "/v1/bots\x00/x"]:
        with pytest.raises(cozefallback.InvalidArgumentError):
            client.get(bad)


def test_absolute_urls_are_case_insensitive_in_their_scheme(mock: Mock) -> None:
    client = cozefallback.Client(mock.pat_config())
    upper = mock.base_url.replace("http://", "HTTP://", 1)
    assert client.get(f"{upper}/v1/bots/{mock.bot}").status == 200
    with pytest.raises(cozefallback.InvalidArgumentError):
        client.get(f"FTP://127.0.0.1/v1/bots/{mock.bot}")


def test_oauth_app_refuses_a_base_url_with_a_path() -> None:
    with pytest.raises(cozefallback.ConfigError) as info:
        cozefallback.OAuthApp("https://api.coze.cn/api/", "1130")
    assert info.value.field == "base_url" and "no path" in str(info.value)
    cozefallback.OAuthApp("https://api.coze.cn/", "1130")
