"""The Concierge: natural-language operations, run as an agent like any other.

Each user's Concierge is a Hermes agent (``concierge/concierge``, backend ``concierge``) on a
compute session of its own, billed like any run. Its MCP server is the operator's operations
(:mod:`computerouter.mcp_server`'s tools), served by this control plane at
:class:`OperatorEndpoint`, which the session reaches only through its ``mcp`` egress route:
the route stamps the run's token (audience ``operator``), and every tool call acts as the
run's user against the REST API, scoped exactly as that user's own key would be. Destructive
tools are refused unless the caller confirmed them for the run (``--yes``).
"""

from __future__ import annotations

from computerouter.concierge.endpoint import OperatorEndpoint
from computerouter.concierge.prompt import CONCIERGE_ADDRESS, CONCIERGE_MARKER, CONCIERGE_PROMPT
from computerouter.concierge.service import Concierge

__all__ = [
    "CONCIERGE_ADDRESS",
    "CONCIERGE_MARKER",
    "CONCIERGE_PROMPT",
    "Concierge",
    "OperatorEndpoint",
]
