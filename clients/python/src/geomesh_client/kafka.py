"""Kafka connections: librdkafka settings from a region's ``kafka`` section
(Go package broker), and the one seam between this library and
confluent-kafka, ``KafkaBackend``, so that the producer, consumer and
follower can be tested without a cluster.

Mapping of the topology's ``kafka`` section to librdkafka:

============================  =====================================================
topology                      librdkafka
============================  =====================================================
bootstrap                     bootstrap.servers (comma-separated)
tls                           security.protocol SSL (SASL_SSL with sasl)
tls.ca_file                   ssl.ca.location
tls.cert_file, tls.key_file   ssl.certificate.location, ssl.key.location
tls.insecure_skip_verify      enable.ssl.certificate.verification=false and
                              ssl.endpoint.identification.algorithm=none
tls.server_name               not supported by librdkafka: refused (ValueError),
                              since verifying another name would fail or mislead
sasl.mechanism                sasl.mechanism (security.protocol SASL_PLAINTEXT
                              without tls)
sasl.username, password       sasl.username, sasl.password (resolved when a client
                              is built: each switch builds one, so a rotated
                              password is used from the next switch on)
sasl GSSAPI                   sasl.kerberos.keytab, sasl.kerberos.principal
                              (username@realm), sasl.kerberos.service.name;
                              krb5_conf is process-wide in librdkafka (KRB5_CONFIG)
sasl OAUTHBEARER              librdkafka's own client credentials login:
                              sasl.oauthbearer.method=oidc, client id and secret
                              (resolved when a client is built), token endpoint,
                              scope (space-separated), extensions (k=v,...);
                              librdkafka refreshes the token itself. oauth.audience
                              and oauth.ca_file have no librdkafka setting and are
                              not sent
sasl AWS_MSK_IAM              refused when the file is read: it needs Amazon's
                              signer and an oauth_cb, which this library lacks
============================  =====================================================
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from .errors import GeomeshError
from .topology import KafkaCluster

#: Settings this library sets on its consumers itself; a user's kafka
#: config must not override them.
CONSUMER_OWNED = ("group.id", "isolation.level", "enable.auto.offset.store", "auto.offset.reset", "bootstrap.servers")
PRODUCER_OWNED = ("bootstrap.servers",)

OFFSET_INVALID = -1001


def kafka_config(region: str, k: KafkaCluster) -> dict[str, Any]:
    """The librdkafka settings that reach region's cluster."""
    conf: dict[str, Any] = {"bootstrap.servers": ",".join(k.bootstrap)}
    protocol = "PLAINTEXT"
    if k.tls is not None:
        protocol = "SSL"
        t = k.tls
        if t.server_name:
            raise ValueError(
                f"region {region}: kafka.tls.server_name is not supported by librdkafka; "
                "give the brokers certificates that name their bootstrap hosts"
            )
        if t.ca_file:
            conf["ssl.ca.location"] = t.ca_file
        if t.cert_file:
            conf["ssl.certificate.location"] = t.cert_file
        if t.key_file:
            conf["ssl.key.location"] = t.key_file
        if t.insecure_skip_verify:
            conf["enable.ssl.certificate.verification"] = False
            conf["ssl.endpoint.identification.algorithm"] = "none"
    if k.sasl is not None:
        s = k.sasl
        protocol = "SASL_SSL" if k.tls is not None else "SASL_PLAINTEXT"
        conf["sasl.mechanism"] = s.mechanism
        if s.oauth is not None:
            o = s.oauth
            conf["sasl.oauthbearer.method"] = "oidc"
            conf["sasl.oauthbearer.token.endpoint.url"] = o.token_endpoint
            conf["sasl.oauthbearer.client.id"] = o.client_id
            try:
                conf["sasl.oauthbearer.client.secret"] = o.client_secret.resolve()
            except GeomeshError as e:
                raise GeomeshError(f"region {region}: kafka sasl OAUTHBEARER as client {o.client_id!r}: {e}") from None
            if o.scope:
                conf["sasl.oauthbearer.scope"] = " ".join(o.scope)
            if o.extensions:
                conf["sasl.oauthbearer.extensions"] = ",".join(f"{k2}={v2}" for k2, v2 in o.extensions)
        elif s.mechanism == "GSSAPI":
            principal = f"{s.username}@{s.realm}" if s.realm else s.username
            conf["sasl.kerberos.principal"] = principal
            if s.keytab:
                conf["sasl.kerberos.keytab"] = s.keytab
            conf["sasl.kerberos.service.name"] = s.service_name or "kafka"
        else:
            conf["sasl.username"] = s.username
            if s.password is not None:
                try:
                    conf["sasl.password"] = s.password.resolve()
                except GeomeshError as e:
                    raise GeomeshError(f"region {region}: kafka sasl {s.mechanism} as user {s.username!r}: {e}") from None
    conf["security.protocol"] = protocol
    return conf


def merge_config(base: Mapping[str, Any], user: Mapping[str, Any] | None, owned: Sequence[str], what: str) -> dict[str, Any]:
    """base with the user's settings on top; a user setting of a key this
    library owns is refused."""
    out = dict(base)
    for k, v in (user or {}).items():
        if k in owned:
            raise ValueError(f"{what}: kafka setting {k!r} is set by geomesh_client and must not be overridden")
        out[k] = v
    return out


class ProducerLike(Protocol):
    """The part of confluent_kafka.Producer this library uses."""

    def produce(self, topic: str, *args: Any, **kwargs: Any) -> None: ...

    def poll(self, timeout: float = ...) -> int: ...

    def flush(self, timeout: float = ...) -> int: ...

    def purge(self, in_queue: bool = ..., in_flight: bool = ..., blocking: bool = ...) -> None: ...

    def __len__(self) -> int: ...


class ConsumerLike(Protocol):
    """The part of confluent_kafka.Consumer this library uses."""

    def subscribe(self, topics: list[str], on_assign: Callable[..., Any] = ..., on_revoke: Callable[..., Any] = ...) -> None: ...

    def poll(self, timeout: float = ...) -> Any: ...

    def consume(self, num_messages: int = ..., timeout: float = ...) -> list[Any]: ...

    def commit(self, *args: Any, **kwargs: Any) -> Any: ...

    def committed(self, partitions: list[Any], timeout: float = ...) -> list[Any]: ...

    def assign(self, partitions: list[Any]) -> None: ...

    def incremental_assign(self, partitions: list[Any]) -> None: ...

    def close(self) -> None: ...


class KafkaBackend(Protocol):
    """Builds Kafka clients and runs the few admin calls a switch needs.

    ConfluentBackend is the real one; tests pass a fake. Group states are
    upper-case names of confluent_kafka.ConsumerGroupState ("EMPTY",
    "STABLE", "DEAD" ...), None for a group the cluster does not list.
    Offsets are keyed by (topic, partition). Offsets are committed by a
    client outside the group: the coordinator refuses that while the group
    has members.
    """

    def new_producer(self, conf: dict[str, Any]) -> ProducerLike: ...

    def new_consumer(self, conf: dict[str, Any]) -> ConsumerLike: ...

    def topic_partition(self, topic: str, partition: int, offset: int = OFFSET_INVALID) -> Any: ...

    def group_state(self, conf: dict[str, Any], group: str, timeout: float) -> str | None: ...

    def committed_offsets(
        self, conf: dict[str, Any], group: str, partitions: Sequence[tuple[str, int]], timeout: float
    ) -> dict[tuple[str, int], int]: ...

    def commit_offsets(self, conf: dict[str, Any], group: str, offsets: Mapping[tuple[str, int], int], timeout: float) -> None: ...

    def is_no_offset(self, err: BaseException) -> bool: ...


def _admin_conf(conf: Mapping[str, Any]) -> dict[str, Any]:
    # Client-kind settings make librdkafka log warnings on an admin client.
    skip = {
        "group.id", "isolation.level", "enable.auto.offset.store", "auto.offset.reset",
        "enable.auto.commit", "auto.commit.interval.ms", "partition.assignment.strategy",
        "session.timeout.ms", "max.poll.interval.ms", "enable.partition.eof",
    }
    return {k: v for k, v in conf.items() if k not in skip}


class ConfluentBackend:
    """The backend on confluent-kafka (librdkafka)."""

    def __init__(self) -> None:
        import confluent_kafka  # noqa: F401 - fail early and clearly when it is missing

    def new_producer(self, conf: dict[str, Any]) -> ProducerLike:
        from confluent_kafka import Producer

        p: ProducerLike = Producer(conf)
        return p

    def new_consumer(self, conf: dict[str, Any]) -> ConsumerLike:
        from confluent_kafka import Consumer

        c: ConsumerLike = Consumer(conf)
        return c

    def topic_partition(self, topic: str, partition: int, offset: int = OFFSET_INVALID) -> Any:
        from confluent_kafka import TopicPartition

        return TopicPartition(topic, partition, offset)

    def group_state(self, conf: dict[str, Any], group: str, timeout: float) -> str | None:
        from confluent_kafka.admin import AdminClient

        adm = AdminClient(_admin_conf(conf))
        res = adm.list_consumer_groups(request_timeout=timeout).result(timeout=timeout)
        if res.errors:
            raise GeomeshError(f"list groups: {'; '.join(str(e) for e in res.errors)}")
        for g in res.valid:
            if g.group_id == group:
                return str(g.state.name).upper()
        return None

    # Offsets are read and committed through a consumer that never joins the
    # group, not through AdminClient.list_consumer_group_offsets: librdkafka
    # crashes the process there when the group's coordinator is not
    # available yet (NOT_COORDINATOR; librdkafka issue 5040,
    # confluent-kafka-python issue 1982), which is just when a switch runs.
    # A member-less commit (generation -1) is accepted by the coordinator
    # only while the group has no members, as the Go library's admin commit.

    def _group_client(self, conf: dict[str, Any], group: str) -> Any:
        from confluent_kafka import Consumer

        c = dict(_admin_conf(conf))
        c.update({"group.id": group, "enable.auto.commit": False, "enable.auto.offset.store": False})
        return Consumer(c)

    def committed_offsets(
        self, conf: dict[str, Any], group: str, partitions: Sequence[tuple[str, int]], timeout: float
    ) -> dict[tuple[str, int], int]:
        from confluent_kafka import TopicPartition

        cl = self._group_client(conf, group)
        try:
            tps = _retry_coordinator(
                lambda left: cl.committed([TopicPartition(t, p) for t, p in partitions], timeout=left), timeout
            )
        finally:
            cl.close()
        out: dict[tuple[str, int], int] = {}
        for tp in tps:
            if tp.error is None and tp.offset >= 0:
                out[(tp.topic, tp.partition)] = tp.offset
        return out

    def commit_offsets(self, conf: dict[str, Any], group: str, offsets: Mapping[tuple[str, int], int], timeout: float) -> None:
        from confluent_kafka import TopicPartition

        cl = self._group_client(conf, group)
        try:
            tps = [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
            # commit has no timeout of its own: bounded by a helper thread.
            res = _bounded(lambda: _retry_coordinator(lambda left: cl.commit(offsets=tps, asynchronous=False), timeout), timeout)
        finally:
            cl.close()
        bad = [f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in (res or []) if tp.error is not None]
        if bad:
            raise GeomeshError("commit offsets: " + "; ".join(bad))

    def is_no_offset(self, err: BaseException) -> bool:
        from confluent_kafka import KafkaError, KafkaException

        if isinstance(err, KafkaException) and err.args:
            ke = err.args[0]
            return bool(getattr(ke, "code", lambda: None)() == KafkaError._NO_OFFSET)
        return False


#: Coordinator errors that clear up by themselves (a coordinator moving or
#: loading, __consumer_offsets being created).
_COORDINATOR_ERRORS = ("NOT_COORDINATOR", "COORDINATOR_NOT_AVAILABLE", "COORDINATOR_LOAD_IN_PROGRESS")


def _retry_coordinator(call: Callable[[float], Any], timeout: float) -> Any:
    """call(time left), asked again while the group's coordinator is not
    ready, within timeout."""
    from confluent_kafka import KafkaError, KafkaException

    retriable = {getattr(KafkaError, n) for n in _COORDINATOR_ERRORS}
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            return call(max(left, 0.1))
        except KafkaException as e:
            code = e.args[0].code() if e.args and hasattr(e.args[0], "code") else None
            if code not in retriable or left <= 0.2:
                raise
        time.sleep(0.2)


def _bounded(call: Callable[[], Any], timeout: float) -> Any:
    """call() in a helper thread, waited for at most timeout: for librdkafka
    calls that have no timeout of their own."""
    box: list[Any] = []
    err: list[BaseException] = []

    def run() -> None:
        try:
            box.append(call())
        except BaseException as e:  # handed to the caller
            err.append(e)

    t = threading.Thread(target=run, name="geomesh-bounded", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise GeomeshError(f"no answer within {timeout:g}s")
    if err:
        raise err[0]
    return box[0] if box else None


_default: KafkaBackend | None = None


def default_backend() -> KafkaBackend:
    global _default
    if _default is None:
        _default = ConfluentBackend()
    return _default

