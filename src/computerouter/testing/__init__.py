"""A public testing kit: in-memory fakes of the provider and runtime seams, and a manual clock.

Fakes, not mocks: they keep real state and obey the same contract as the real things
(``tests/contract`` runs against :class:`FakeProvider` too).
"""

from computerouter.testing.agent_fakes import FakeAgentRuntime, FakeTurn
from computerouter.testing.fakes import FakeClock, FakeProvider, FakeRuntime, ProbedFakeProvider
from computerouter.testing.records import session_record

__all__ = [
    "FakeAgentRuntime",
    "FakeClock",
    "FakeProvider",
    "FakeRuntime",
    "FakeTurn",
    "ProbedFakeProvider",
    "session_record",
]
