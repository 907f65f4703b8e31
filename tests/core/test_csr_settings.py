"""The certificate-request settings of RedtrustConfig: defaults, extensions and refusals.

Each refusal is a ConfigurationError naming the field at start-up; each extension is seen in
what the library accepts before anything is sent.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest

from redtrust_middleware import RA_API, ConfigurationError, InvalidInputError
from redtrust_middleware.calls import ClientCalls
from redtrust_middleware.testing import make_config


@pytest.mark.parametrize(
    ("settings", "field_name", "fix"),
    [
        ({"dn_attributes": {"pseudonym": "2.5.4.065"}}, "dn_attributes", "dotted OID"),
        ({"dn_attributes": {"pseudonym": "3.5.4"}}, "dn_attributes", "dotted OID"),
        ({"dn_attributes": {"x": "1.40.1"}}, "dn_attributes", "dotted OID"),
        ({"dn_attributes": {"x": "2"}}, "dn_attributes", "dotted OID"),
        ({"dn_attributes": {"x": "2.5.4."}}, "dn_attributes", "dotted OID"),
        ({"dn_attributes": {"x": "2.5.٤"}}, "dn_attributes", "dotted OID"),  # not ASCII digits
        ({"dn_attributes": {"x": "2." + "1." * 70 + "1"}}, "dn_attributes", "dotted OID"),
        ({"dn_attributes": {"x": 2.5}}, "dn_attributes", "dotted OID"),
        ({"dn_attributes": {"CN": "2.5.4.3"}}, "dn_attributes", "already a name"),
        ({"dn_attributes": {"a": "2.5.4.65", "A": "2.5.4.66"}}, "dn_attributes", "already"),
        ({"dn_attributes": {"1x": "2.5.4.65"}}, "dn_attributes", "attribute name"),
        ({"dn_attributes": {"with space": "2.5.4.65"}}, "dn_attributes", "attribute name"),
        ({"dn_attributes": ["pseudonym"]}, "dn_attributes", "map names"),
        ({"hash_types": ()}, "hash_types", "at least one"),
        ({"hash_types": ("SHA 256",)}, "hash_types", "hash name"),
        ({"hash_types": "SHA256"}, "hash_types", "at least one"),
        ({"key_lengths": ()}, "key_lengths", "TYPE:LENGTH"),
        ({"key_lengths": ("RSA",)}, "key_lengths", "TYPE:LENGTH"),
        ({"key_lengths": ("RSA:0",)}, "key_lengths", "TYPE:LENGTH"),
        ({"key_lengths": ("RSA:99999",)}, "key_lengths", "TYPE:LENGTH"),
        ({"key_lengths": ("RSA:2048.0",)}, "key_lengths", "TYPE:LENGTH"),
        ({"key_lengths": (2048,)}, "key_lengths", "TYPE:LENGTH"),
        ({"csr_fields": ()}, "csr_fields", "at least one"),
        ({"csr_fields": ("csr", "")}, "csr_fields", "JSON field name"),
        ({"csr_request_code_field": "request code"}, "csr_request_code_field", "field name"),
        ({"finalize_certificate_field": "requestCode"}, "finalize_certificate_field", "differ"),
        ({"finalize_request_code_field": "x" * 65}, "finalize_request_code_field", "field"),
        ({"finalize_id_field": "thumbprint"}, "finalize_thumbprint_field", "differ"),
        ({"finalize_thumbprint_field": 5}, "finalize_thumbprint_field", "field name"),
    ],
)
def test_invalid_settings_fail_at_start_up(
    settings: dict[str, Any], field_name: str, fix: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_config(**settings)
    assert caught.value.field == field_name
    assert fix in caught.value.problem


def test_a_profile_carries_the_field_names_and_the_config_overrides_them() -> None:
    profile = replace(RA_API, finalize_certificate_field="pem", csr_fields=("p10",))
    rules = make_config(profile=profile).csr_rules()
    assert (rules.finalize_certificate_field, rules.csr_fields) == ("pem", ("p10",))
    assert rules.finalize_request_code_field == "requestCode"
    rules = make_config(profile=profile, finalize_certificate_field="cert").csr_rules()
    assert rules.finalize_certificate_field == "cert"
    with pytest.raises(ConfigurationError) as caught:
        make_config(profile=replace(RA_API, finalize_id_field=""))
    assert caught.value.field == "finalize_id_field"


def test_the_defaults_are_the_sandboxs_names_and_safe_values() -> None:
    rules = make_config().csr_rules()
    assert rules.hash_types == ("SHA256", "SHA384", "SHA512")
    assert dict(rules.lengths) == {"RSA": (2048, 3072, 4096), "EC": (256, 384)}
    assert (rules.csr_fields[0], rules.csr_request_code_field) == ("csr", "requestCode")
    assert (rules.finalize_request_code_field, rules.finalize_certificate_field) == (
        "requestCode",
        "certificate",
    )
    assert (rules.finalize_id_field, rules.finalize_thumbprint_field) == (
        "idCertificate",
        "thumbprint",
    )


def body_for(settings: dict[str, Any], dn: Any, **options: Any) -> Any:
    return (
        ClientCalls(make_config(**settings)).create_csr("bearer", dn, **options).request.json_body
    )


def test_sha1_is_accepted_only_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(InvalidInputError) as caught:
        body_for({}, [("cn", "A")], hash_type="SHA1")
    assert caught.value.field == "hash_type"
    with caplog.at_level(logging.WARNING, logger="redtrust_middleware"):
        asked = {"hash_types": ("sha1", "SHA256")}
        assert body_for(asked, [("cn", "A")], hash_type="sha1")["hashType"] == "SHA1"
    assert "weak hash" in caplog.text
    # Without SHA384 among them, the first accepted hash is the one sent by default.
    assert body_for({"hash_types": ("SHA512",)}, [("cn", "A")])["hashType"] == "SHA512"


def test_key_lengths_are_checked_per_type() -> None:
    settings = {"key_lengths": ("RSA:4096", "ED25519:256")}
    body = body_for(settings, [("cn", "A")], key_type="ed25519", key_length=256)
    assert (body["keyType"], body["keyLength"]) == ("ED25519", 256)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"key_type": "RSA", "key_length": 2048}, "key_length"),
        ({"key_type": "EC"}, "key_type"),
        ({"key_length": 384}, "key_length"),  # in none of the types
    ]
    for options, field_name in cases:
        with pytest.raises(InvalidInputError) as caught:
            body_for(settings, [("cn", "A")], **options)
        assert caught.value.field == field_name


def test_extra_dn_names_are_sent_as_configured_and_checked_by_their_oid() -> None:
    settings = {
        "dn_attributes": {"jurisdictionC": "1.3.6.1.4.1.311.60.2.1.3", "pseudonym": "2.5.4.65"}
    }
    body = body_for(settings, [("cn", "A"), ("JURISDICTIONC", "es"), ("pseudonym", "Al")])
    assert body["dn"] == [
        {"attribute": "cn", "value": "A"},
        {"attribute": "jurisdictionC", "value": "ES"},
        {"attribute": "pseudonym", "value": "Al"},
    ]
    with pytest.raises(InvalidInputError) as caught:
        body_for(settings, [("cn", "A"), ("jurisdictionC", "Spain")])
    assert (caught.value.field, caught.value.problem) == (
        "dn[1]",
        "jurisdictionC must be a two-letter country code",
    )
    with pytest.raises(InvalidInputError) as caught:
        body_for({}, [("pseudonym", "Al")])  # not configured here
    assert caught.value.field == "dn[0]"
    assert "dn_attributes setting" in caught.value.problem


def test_a_config_with_dn_attributes_is_hashable_and_keeps_a_read_only_copy() -> None:
    names = {"pseudonym": "2.5.4.65"}
    config = make_config(dn_attributes=names)
    names["pseudonym"] = "1.2.3"  # the caller's dict changing later changes nothing
    assert config.dn_attributes == {"pseudonym": "2.5.4.65"}
    assert hash(config) == hash(make_config(dn_attributes={"pseudonym": "2.5.4.65"}))
    with pytest.raises(TypeError):
        config.dn_attributes["x"] = "1.2.3"  # type: ignore[index]
