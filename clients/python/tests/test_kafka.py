"""librdkafka settings from the topology, and the helpers the real backend
uses around librdkafka calls."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException

from geomesh_client import GeomeshError, KafkaCluster, KafkaTLS, SASL, Secret, TopologyError, kafka_config, parse_topology
from geomesh_client.kafka import _bounded, _retry_coordinator, merge_config


def test_plaintext() -> None:
    assert kafka_config("us", KafkaCluster(bootstrap=("a:9092", "b:9092"))) == {
        "bootstrap.servers": "a:9092,b:9092",
        "security.protocol": "PLAINTEXT",
    }


def test_tls_and_scram(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GM_KAFKA_PW", "pw")
    k = KafkaCluster(
        bootstrap=("k:9093",),
        tls=KafkaTLS(ca_file="/ca.pem", cert_file="/c.pem", key_file="/k.pem"),
        sasl=SASL(mechanism="SCRAM-SHA-512", username="geomesh", password=Secret("env:GM_KAFKA_PW")),
    )
    assert kafka_config("eu", k) == {
        "bootstrap.servers": "k:9093",
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": "/ca.pem",
        "ssl.certificate.location": "/c.pem",
        "ssl.key.location": "/k.pem",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "geomesh",
        "sasl.password": "pw",
    }


def test_sasl_errors_name_the_reference_not_the_value() -> None:
    k = KafkaCluster(bootstrap=("k:9092",), sasl=SASL(mechanism="PLAIN", username="u", password=Secret("env:GM_UNSET_PW")))
    with pytest.raises(GeomeshError, match="region eu: kafka sasl PLAIN as user 'u': secret env:GM_UNSET_PW"):
        kafka_config("eu", k)


def test_gssapi_and_insecure() -> None:
    k = KafkaCluster(
        bootstrap=("k:9092",),
        tls=KafkaTLS(insecure_skip_verify=True),
        sasl=SASL(mechanism="GSSAPI", username="geomesh/host", keytab="/k.tab", realm="EXAMPLE.COM", service_name="kafka"),
    )
    c = kafka_config("eu", k)
    assert c["security.protocol"] == "SASL_SSL" and c["sasl.kerberos.principal"] == "geomesh/host@EXAMPLE.COM"
    assert c["sasl.kerberos.keytab"] == "/k.tab" and c["enable.ssl.certificate.verification"] is False
    assert c["ssl.endpoint.identification.algorithm"] == "none"


def test_server_name_refused() -> None:
    with pytest.raises(ValueError, match="server_name is not supported"):
        kafka_config("eu", KafkaCluster(bootstrap=("k:9093",), tls=KafkaTLS(server_name="kafka.internal")))


def test_merge_refuses_owned_keys() -> None:
    assert merge_config({"a": 1}, {"b": 2}, ("group.id",), "x") == {"a": 1, "b": 2}
    with pytest.raises(ValueError, match="'group.id' is set by geomesh_client"):
        merge_config({}, {"group.id": "g"}, ("group.id",), "x")


def test_retry_coordinator() -> None:
    calls: list[float] = []

    def flaky(left: float) -> str:
        calls.append(left)
        if len(calls) < 3:
            raise KafkaException(KafkaError(KafkaError.NOT_COORDINATOR))
        return "ok"

    assert _retry_coordinator(flaky, 5) == "ok" and len(calls) == 3

    def denied(left: float) -> str:
        raise KafkaException(KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED))

    with pytest.raises(KafkaException):
        _retry_coordinator(denied, 5)
    t0 = time.monotonic()
    with pytest.raises(KafkaException):
        _retry_coordinator(lambda left: (_ for _ in ()).throw(KafkaException(KafkaError(KafkaError.COORDINATOR_LOAD_IN_PROGRESS))), 0.5)
    assert time.monotonic() - t0 < 2


def test_bounded() -> None:
    assert _bounded(lambda: 7, 1) == 7
    with pytest.raises(ZeroDivisionError):
        _bounded(lambda: 1 // 0, 1)
    t0 = time.monotonic()
    with pytest.raises(GeomeshError, match="no answer within 0.2s"):
        _bounded(lambda: time.sleep(2), 0.2)
    assert time.monotonic() - t0 < 1


def test_oauthbearer(tmp_path: Path) -> None:
    """OAUTHBEARER from the topology file becomes librdkafka's own client
    credentials login, the secret resolved when the client is built."""
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    m = parse_topology(
        f"""
mesh: t
topology: {{kind: active-passive, primary: east, standby: [west]}}
regions:
  - name: east
    kafka:
      bootstrap: [k1:9093]
      tls: {{}}
      sasl:
        mechanism: OAUTHBEARER
        oauth: {{token_endpoint: "https://idp.example.com/token", client_id: geomesh, client_secret: "file:{secret}",
                 scope: [kafka, admin], extensions: {{logicalCluster: lkc-1, identityPoolId: pool-2}}}}
    agents: [{{id: east-1, gossip: 1.1.1.1:7946, api: 1.1.1.1:8080}}]
  - name: west
    kafka: {{bootstrap: [k2:9092]}}
    agents: [{{id: west-1, gossip: 2.2.2.2:7946, api: 2.2.2.2:8080}}]
""",
        source="t.yaml",
    )
    east = m.region("east").kafka
    assert east is not None
    conf = kafka_config("east", east)
    assert conf == {
        "bootstrap.servers": "k1:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": "https://idp.example.com/token",
        "sasl.oauthbearer.client.id": "geomesh",
        "sasl.oauthbearer.client.secret": "s3cret",
        "sasl.oauthbearer.scope": "kafka admin",
        "sasl.oauthbearer.extensions": "identityPoolId=pool-2,logicalCluster=lkc-1",
    }
    secret.write_text("rotated\n")
    assert kafka_config("east", east)["sasl.oauthbearer.client.secret"] == "rotated"
    secret.unlink()
    with pytest.raises(GeomeshError, match="region east: kafka sasl OAUTHBEARER as client 'geomesh': ") as ei:
        kafka_config("east", east)
    assert "s3cret" not in str(ei.value)


@pytest.mark.parametrize(
    "sasl, want",
    [
        ("{mechanism: AWS_MSK_IAM}", "sasl AWS_MSK_IAM needs Amazon's aws-msk-iam-sasl-signer-python"),
        ("{mechanism: OAUTHBEARER}", "sasl OAUTHBEARER needs oauth: {token_endpoint, client_id, client_secret}"),
        ("{mechanism: SCRAM-SHA-512, password: env:X}", "sasl SCRAM-SHA-512 needs username"),
    ],
)
def test_sasl_refused(sasl: str, want: str) -> None:
    with pytest.raises(TopologyError) as ei:
        parse_topology(
            f"""
mesh: t
topology: {{kind: active-active}}
regions:
  - {{name: a, kafka: {{bootstrap: [k:1], tls: {{}}, sasl: {sasl}}}, agents: [{{id: a-1, gossip: 1.1.1.1:1, api: 1.1.1.1:2}}]}}
""",
            source="t.yaml",
        )
    assert want in str(ei.value), str(ei.value)
