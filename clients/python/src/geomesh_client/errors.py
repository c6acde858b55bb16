"""The exceptions of geomesh_client. Every one derives from GeomeshError."""

from __future__ import annotations

from collections.abc import Sequence


class GeomeshError(Exception):
    """Base class of every error this library raises."""


class TopologyError(GeomeshError):
    """A topology that cannot be used; ``problems`` lists every problem found."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


class SecretError(GeomeshError):
    """A secret reference (``env:NAME`` or ``file:/path``) that cannot be read.

    The message names the reference, never a value.
    """


class NotPrimaryError(GeomeshError):
    """A record for a region that does not take writes for its topic: a
    standby, or a topic that is another region's copy there (Go:
    ErrNotPrimary)."""


class PausedError(GeomeshError, TimeoutError):
    """A produce whose timeout ended while a Follower held the producer
    paused for a planned switch (Go: ErrPaused)."""


class ClientClosedError(GeomeshError):
    """The producer or consumer is closed."""


class AgentError(GeomeshError):
    """An agent's answer that is not 2xx: ``status`` is the HTTP status and
    ``message`` the agent's error text (or the status line)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{message} (HTTP {status})")


class NoFlowError(GeomeshError):
    """The agent cannot translate from the region (HTTP 400): no flow from
    it into the agent's region, or a refused request. Retrying does not
    help."""


class SwitchError(GeomeshError):
    """A consumer's switch that failed; the consumer stays (or rejoined)
    where it was."""
