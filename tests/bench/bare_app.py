"""The framework's ceiling: the intake route's body validation and a 201, nothing else."""

from __future__ import annotations

import argparse
import gc

import uvicorn
from fastapi import FastAPI, Response

from inquiry.intake.schemas import InquiryIn

# Configured like the real app (inquiry/app.py): no OpenTelemetry lookups per request.
app = FastAPI(
    title="inquiry-bench-ceiling",
    telemetry={"tracing": False, "metrics": False, "logs": False},
)

_ANSWER = b'{"reference":"BENCH-0000","message":"received"}'


@app.post("/api/v1/inquiries", status_code=201)
async def create_inquiry(inquiry: InquiryIn) -> Response:
    """Validate the body exactly as the real route does, then answer at once."""
    return Response(_ANSWER, 201, media_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The same process settings as `inquiry serve` (inquiry/cli.py): one process, no access
    # log, start-up objects frozen out of the GC and the same collection threshold.
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
