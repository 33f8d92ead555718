"""AgentRouter: agents, address resolution, run orchestration, events."""
