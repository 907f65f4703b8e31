"""One collecting reader for every face: the environment and a front-end's mapping report
every mistake at once, ``from_env`` and ``redtrust doctor`` agree on them, and plain http is
judged loopback the same way by the config and the doctor."""

from __future__ import annotations

import pytest

from redtrust_middleware import ConfigurationError, RedtrustConfig
from redtrust_middleware._hosts import is_loopback
from redtrust_middleware.config import (
    Source,
    collect_config,
    read_environment,
    read_mapping,
)
from redtrust_middleware.doctor import run_checks

SECRET = "collect-test-secret-0123456789"
BASE = {
    "REDTRUST_SERVER_URL": "https://redtrust.example",
    "REDTRUST_PARTNER": "CA_DEMO",
    "REDTRUST_SHARED_SECRET": SECRET,
}
#: Three mistakes of different kinds: a value of the wrong type, a missing required variable,
#: a value the config's own checks refuse, and a bad endpoint override.
WRONG = {
    "REDTRUST_SERVER_URL": "https://redtrust.example",
    "REDTRUST_SHARED_SECRET": SECRET,
    "REDTRUST_TIMEOUT": "soon",
    "REDTRUST_PUBLIC_URL": "ftp://app.example",
    "REDTRUST_ENDPOINT_REFRESH": "FETCH /x",
}
WRONG_VARIABLES = [
    "REDTRUST_PARTNER",
    "REDTRUST_TIMEOUT",
    "REDTRUST_ENDPOINT_REFRESH",
    "REDTRUST_PUBLIC_URL",
]


def test_from_env_names_every_mistake_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedtrustConfig.from_env(WRONG)
    error = caught.value
    text = str(error)
    for variable in WRONG_VARIABLES:
        assert f"{variable}: " in text, text
        assert f"for example {variable}=" in text, text  # each with a valid example
    assert len(error.also) == len(WRONG_VARIABLES) - 1
    assert "soon" not in text  # values are never shown
    assert "FETCH" not in text


def test_a_single_mistake_keeps_its_message() -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedtrustConfig.from_env({**BASE, "REDTRUST_TIMEOUT": "soon"})
    assert caught.value.field == "REDTRUST_TIMEOUT"
    assert str(caught.value) == (
        "REDTRUST_TIMEOUT: must be a number; for example REDTRUST_TIMEOUT=10"
    )
    assert caught.value.also == ()


def test_the_doctor_reads_what_from_env_reads() -> None:
    collected = read_environment(WRONG, capture=True)
    assert [problem.name for problem in collected.problems] == WRONG_VARIABLES
    with pytest.raises(ConfigurationError) as caught:
        RedtrustConfig.from_env(WRONG)
    assert [str(p.error()) for p in collected.problems] == [
        f"{caught.value.field}: {caught.value.problem}",
        *caught.value.also,
    ]


def test_a_keyword_given_in_code_is_named_as_the_keyword() -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedtrustConfig.from_env(BASE, timeout=-1)
    assert caught.value.field == "timeout"
    assert caught.value.variable == "REDTRUST_TIMEOUT"


#: How a Flask extension would name its ``app.config`` keys.
FLASK = Source(key="REDTRUST_{key}", label="app.config[{key!r}]", example="{key} = {python}")


def test_a_mapping_of_redtrust_keys_is_read_with_every_problem() -> None:
    values, problems = read_mapping(
        {
            "REDTRUST_SERVER_URL": "https://redtrust.example",
            "REDTRUST_PARTNER": "CA_DEMO",
            "REDTRUST_SHARED_SECRET": SECRET,
            "REDTRUST_TIMEOUT": "soon",
            "REDTRUST_TIMEOUTS": 5,
            "REDTRUST_PUBLIC_URL": "ftp://app.example",
            "REDTRUST_BLUEPRINT": "sso",
        },
        FLASK,
        own={"REDTRUST_BLUEPRINT"},
    )
    assert [str(p.error()) for p in problems] == [
        "app.config['REDTRUST_TIMEOUTS']: is not a Redtrust setting; "
        "did you mean 'REDTRUST_TIMEOUT'?",
        "app.config['REDTRUST_TIMEOUT']: must be a number; for example REDTRUST_TIMEOUT = 10.0",
    ]
    collected = collect_config(values, problems, source=FLASK)
    assert str(collected.problems[-1].error()) == (
        "app.config['REDTRUST_PUBLIC_URL']: must be an http(s) URL with a host; "
        "for example REDTRUST_PUBLIC_URL = 'https://app.example'"
    )
    assert collected.config is None  # an unknown key: nothing is checked against a server


# --- loopback: where plain http may be used ----------------------------------------------------

#: RFC 1122 3.2.1.3 (all of 127.0.0.0/8), RFC 4291 2.5.3 (::1), RFC 4291 2.5.5.2 (IPv4-mapped),
#: RFC 6761 6.3 (the name localhost). Other .localhost names are refused on purpose: this
#: process resolves them with the system resolver, which may ask DNS.
LOOPBACK = {
    "127.0.0.1": True,
    "127.1.2.3": True,
    "::1": True,
    "::ffff:127.0.0.1": True,
    "localhost": True,
    "foo.localhost": False,
    "0.0.0.0": False,  # noqa: S104 - a host to judge, nothing is bound
    "::": False,
    "localhost.example.com": False,
    "128.0.0.1": False,
    "app.example": False,
}


@pytest.mark.parametrize(("host", "expected"), LOOPBACK.items())
def test_loopback_hosts(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@pytest.mark.parametrize(("host", "expected"), LOOPBACK.items())
def test_config_and_doctor_agree_on_plain_http(host: str, expected: bool) -> None:
    try:
        RedtrustConfig(server_url=_url(host, 8083), partner="CA_DEMO", shared_secret=SECRET)
        config_allows = True
    except ConfigurationError:
        config_allows = False
    public = RedtrustConfig(
        server_url="http://127.0.0.1:1",
        partner="CA_DEMO",
        shared_secret=SECRET,
        public_url=_url(host, 8000),
    )
    found = [f for f in run_checks(public).findings if f.check == "public_url"]
    doctor_allows = all(f.status != "fail" for f in found)
    assert config_allows is doctor_allows is expected
