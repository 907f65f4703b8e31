"""Property: any DN the client accepts comes back, attribute for attribute, in the subject of
the certificate issued for it (sandbox CSR, demo CA, finalize)."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from redtrust_middleware import Client, InvalidInputError
from redtrust_middleware.client import ClientCalls
from redtrust_middleware.sandbox import DemoCA
from redtrust_middleware.testing import FakeClock, make_config, make_sandbox

from .conftest import OIDS, expected_pairs, sha1_thumbprint, subject_pairs

# Known names in any case, dotted OIDs (jurisdictionC, pseudonym, any well-formed one), and a
# few unknown names and malformed OIDs the client must refuse.
NAMES = (
    st.sampled_from(sorted(OIDS)).flatmap(
        lambda name: st.sampled_from([name, name.upper(), name.capitalize()])
    )
    | st.sampled_from(["1.3.6.1.4.1.311.60.2.1.3", "2.5.4.65", "2.5.4.15", "2.5.4.6"])
    | st.lists(st.integers(0, 2**32), min_size=1, max_size=5).map(
        lambda arcs: ".".join(map(str, [2, *arcs]))
    )
    | st.sampled_from(["cnn", "x", "email", "", "2.5.4.065", "3.1", "1.40", "2"])
)
# Mostly plausible values (any printable Unicode, short ASCII, country-like pairs of letters),
# and raw text with controls, surrogates and overlong values that must be refused.
VALUES = st.one_of(
    st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=30),
    st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), min_size=1, max_size=20),
    st.text(st.characters(min_codepoint=ord("A"), max_codepoint=ord("z")), min_size=2, max_size=2),
    st.text(max_size=70),
)
DNS = st.lists(st.tuples(NAMES, VALUES), min_size=0, max_size=6)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(dn=DNS)
def test_an_accepted_dn_round_trips_into_the_certificate(dn: list[tuple[str, str]]) -> None:
    config = make_config(profile="ra-api")
    try:
        ClientCalls(config).create_csr("bearer", dn, key_type="EC")
    except InvalidInputError:
        assume(False)
    clock = FakeClock()
    sandbox = make_sandbox(clock=clock)
    with Client(config, transport=sandbox.transport(), clock=clock) as client:
        tokens = client.exchange(sandbox.issue_temp_token("alice"))
        result = client.enroll(tokens, dn, issue=DemoCA(clock=clock).issue, key_type="EC")
    certificate = result.issued.certificate
    assert subject_pairs(result.request.csr.subject) == expected_pairs(dn)
    assert subject_pairs(certificate.subject) == expected_pairs(dn)
    assert result.issued.thumbprint == sha1_thumbprint(certificate)
