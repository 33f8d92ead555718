"""The stand-in playing the Concierge, as a pure function: each request's plan step by step,
from the tool results Hermes hands back (fenced, with ``structuredContent``)."""

from __future__ import annotations

import json

from computerouter.concierge import CONCIERGE_MARKER, CONCIERGE_PROMPT
from computerouter.standin.concierge import MARKER, concierge_reply
from computerouter.standin.script import Message, reply

PAUSE = "Pause my Hermes agents on Daytona — keep Sprites running."


def fenced(result: dict[str, object]) -> str:
    """A tool result as Hermes hands an MCP answer to the model."""
    inner = json.dumps({"content": [], "structuredContent": result, "isError": False})
    return f"<untrusted tool output>\n{inner}\n</untrusted tool output>"


def session(
    sid: str, provider: str, state: str = "running", runtime: str = "hermes"
) -> dict[str, object]:
    return {"id": sid, "sandbox_id": "sb", "provider": provider, "state": state, "runtime": runtime}


def test_the_product_prompt_is_what_the_stand_in_plays() -> None:
    assert MARKER == CONCIERGE_MARKER
    assert CONCIERGE_PROMPT.startswith(MARKER)


def test_create_asks_for_the_cost_aware_policy() -> None:
    step = concierge_reply("Create a Hermes agent that runs on the cheapest compute available.", [])
    assert isinstance(step, tuple)
    name, arguments = step
    assert name == "mcp__computerouter__agents_create"
    assert json.loads(arguments) == {
        "backend": "hermes",
        "compute_policy": "cost-aware",
        "prompt": "You are a helpful Hermes agent.",
        "sandbox_id": "agents",
        "slug": "hermes",
    }
    made = {
        "sandbox_id": "agents",
        "slug": "hermes",
        "model_settings": {"backend": "hermes", "compute_policy": "cost-aware"},
    }
    answer = concierge_reply(
        "Create a Hermes agent that runs on the cheapest compute.", [fenced(made)]
    )
    assert isinstance(answer, str)
    assert "agents/hermes" in answer
    assert "cost-aware" in answer


def test_pause_suspends_each_running_hermes_session_of_that_provider_only() -> None:
    listed = fenced(
        {
            "items": [
                session("ses_d1", "daytona"),
                session("ses_s1", "fly_sprites"),
                session("ses_d2", "daytona", state="suspended"),
                session("ses_d3", "daytona", runtime="echo"),
                session("ses_d4", "daytona"),
            ]
        }
    )
    assert concierge_reply(PAUSE, []) == ("mcp__computerouter__sessions_list", "{}")
    first = concierge_reply(PAUSE, [listed])
    assert first == ("mcp__computerouter__sessions_suspend", '{"session_id": "ses_d1"}')
    second = concierge_reply(PAUSE, [listed, fenced({"id": "ses_d1"})])
    assert second == ("mcp__computerouter__sessions_suspend", '{"session_id": "ses_d4"}')
    done = concierge_reply(PAUSE, [listed, fenced({"id": "ses_d1"}), fenced({"id": "ses_d4"})])
    assert isinstance(done, str)
    assert "ses_d1, ses_d4" in done
    assert "ses_s1" in done  # left as it was


def test_destroy_refused_for_confirmation_asks_for_it() -> None:
    request = "Destroy session ses_x1."
    assert concierge_reply(request, []) == (
        "mcp__computerouter__sessions_destroy",
        '{"session_id": "ses_x1"}',
    )
    refused = "Error executing tool sessions_destroy: confirmation_needed: to destroy session"
    answer = concierge_reply(request, [refused])
    assert isinstance(answer, str)
    assert "did nothing" in answer
    assert "--yes" in answer


def test_the_script_plays_the_concierge_only_under_its_prompt() -> None:
    asked = [Message(role="user", text="Show me my active compute sessions.")]
    plain = reply(asked)
    assert plain.tool_call is None
    played = reply([Message(role="system", text=CONCIERGE_PROMPT), *asked])
    assert played.tool_call is not None
    assert played.tool_call.name == "mcp__computerouter__sessions_list"
    unknown = reply(
        [Message(role="system", text=CONCIERGE_PROMPT), Message(role="user", text="hi")]
    )
    assert "did not understand" in unknown.text
    assert "stand-in" in unknown.text
