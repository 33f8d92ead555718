"""``python -m computerouter.standin``: run the stand-in model as its own process.

Prints the OpenAI base URL on one line once it accepts connections; SIGTERM or Ctrl-C stops
it with exit status 0. The key may come from COMPUTEROUTER_STANDIN_API_KEY instead of
``--api-key``, which keeps it out of the process list.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType

from computerouter.standin.script import Verdict
from computerouter.standin.server import DEFAULT_SLOW_SECONDS, StandinModel

KEY_ENV = "COMPUTEROUTER_STANDIN_API_KEY"


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m computerouter.standin",
        description="OpenAI-compatible model stand-in (scripted replies, not a real model).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default=os.environ.get(KEY_ENV))
    parser.add_argument("--slow-seconds", type=float, default=DEFAULT_SLOW_SECONDS)
    parser.add_argument(
        "--verdict",
        type=Verdict,
        choices=list(Verdict),
        default=Verdict.ESCALATE,
        help="the word given to Hermes's approval judge",
    )
    args = parser.parse_args(argv)
    model = StandinModel(
        args.host,
        args.port,
        args.api_key or None,
        slow_seconds=args.slow_seconds,
        verdict=args.verdict,
    )
    signal.signal(signal.SIGTERM, _stop)
    sys.stdout.write(model.base_url + "\n")
    sys.stdout.flush()
    try:
        model.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
