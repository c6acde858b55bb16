"""geomesh_client: the geomesh library for Python applications on
confluent-kafka, the counterpart of the Go package client.

- ``Consumer`` moves its consumer group between regions without skipping
  or repeating a record (exact translation by the agents).
- ``Producer`` writes only where the mesh takes writes, and can be paused
  and moved.
- ``Follower`` makes both follow the mesh's failover decisions by polling
  the agents' GET /v1/failover.
- ``decide`` is the follow decision, pinned by the table shared with the Go
  and Java libraries (client/testdata/decide.json).

See README.md for a quickstart, the guarantees and what is not done.
"""

from .agents import AgentClient
from .consumer import Consumer
from .decide import FollowedClient, Move, decide, follows_writer, want_paused, want_region
from .errors import (
    AgentError,
    ClientClosedError,
    GeomeshError,
    NoFlowError,
    NotPrimaryError,
    PausedError,
    SecretError,
    SwitchError,
    TopologyError,
)
from .follow import Followed, FollowEvent, Follower, FollowKind
from .view import KeyedView, Outcome, Version
from .headers import (
    HEADER_ORIGIN_OFFSET,
    HEADER_ORIGIN_PARTITION,
    HEADER_ORIGIN_REGION,
    HEADER_ORIGIN_TOPIC,
    HEADER_RECORD_ID,
    HEADER_VISITED,
    Origin,
    provenance,
)
from .kafka import ConfluentBackend, KafkaBackend, kafka_config
from .producer import Producer
from .state import (
    ControlPlane,
    Decision,
    FailoverStatus,
    RegionState,
    Role,
    State,
    Switch,
    TranslateResponse,
    Translation,
    TranslationState,
)
from .topics import check_write, topic_in
from .topology import (
    API,
    Agent,
    KafkaCluster,
    KafkaTLS,
    Kind,
    Mesh,
    Naming,
    Region,
    Roles,
    SASL,
    OAuth,
    Secret,
    Selection,
    load_topology,
    mesh_from_dict,
    parse_topology,
    plan,
)

__version__ = "0.1.0"

__all__ = [
    "API",
    "SASL",
    "OAuth",
    "Agent",
    "AgentClient",
    "AgentError",
    "ClientClosedError",
    "ConfluentBackend",
    "Consumer",
    "ControlPlane",
    "Decision",
    "FailoverStatus",
    "FollowEvent",
    "FollowKind",
    "Followed",
    "FollowedClient",
    "Follower",
    "GeomeshError",
    "HEADER_ORIGIN_OFFSET",
    "HEADER_ORIGIN_PARTITION",
    "HEADER_ORIGIN_REGION",
    "HEADER_ORIGIN_TOPIC",
    "HEADER_RECORD_ID",
    "HEADER_VISITED",
    "KafkaBackend",
    "KafkaCluster",
    "KafkaTLS",
    "KeyedView",
    "Kind",
    "Mesh",
    "Move",
    "Naming",
    "NoFlowError",
    "NotPrimaryError",
    "Origin",
    "Outcome",
    "PausedError",
    "Producer",
    "Region",
    "RegionState",
    "Role",
    "Roles",
    "SecretError",
    "Secret",
    "State",
    "Switch",
    "SwitchError",
    "TopologyError",
    "TranslateResponse",
    "Translation",
    "TranslationState",
    "Version",
    "check_write",
    "decide",
    "follows_writer",
    "kafka_config",
    "load_topology",
    "mesh_from_dict",
    "parse_topology",
    "plan",
    "provenance",
    "topic_in",
    "want_paused",
    "want_region",
]
