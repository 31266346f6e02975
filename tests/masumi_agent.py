"""A real MIP-003 agent built with the ``masumi`` PyPI SDK, for the remote-agent tests.

Run as ``python -m tests.masumi_agent PORT PAYMENT_SERVICE_URL TOKEN``: the SDK's own
server (``masumi.create_masumi_app``) on loopback. It asks for human input with the SDK's
HITL API (``masumi.hitl.request_input``) and keeps its jobs in memory, as the SDK does
by default, so a killed process loses them. It insists on a payment service: the test
points it at tests/masumi_service.py.
"""

from __future__ import annotations

import sys
from typing import Any

AGENT_IDENTIFIER = "ab" * 30  # the payment service wants a registry asset id (57+ chars)
SELLER_VKEY = "5f" * 28

INPUT_SCHEMA = {
    "input_data": [
        {"id": "text", "type": "string", "name": "Text", "data": {"placeholder": "a word"}},
        {
            "id": "times",
            "type": "number",
            "name": "Times",
            "validations": [
                {"validation": "min", "value": "1"},
                {"validation": "max", "value": "3"},
                {"validation": "optional", "value": "true"},
            ],
        },
    ]
}
MOOD_SCHEMA = {
    "input_data": [
        {
            "id": "mood",
            "type": "option",
            "name": "How do you feel?",
            "data": {"values": ["happy", "sad"]},
            "validations": [
                {"validation": "min", "value": "1"},
                {"validation": "max", "value": "1"},
            ],
        },
        {"id": "note", "type": "text", "name": "Note"},
    ]
}


async def process(identifier_from_purchaser: str, input_data: dict[str, Any]) -> str:
    """Echo the text, after asking the human how they feel."""
    from masumi.hitl import request_input

    answer = await request_input(MOOD_SCHEMA, message="tell me how you feel")
    mood = answer.get("mood")
    mood = mood[0] if isinstance(mood, list) else mood
    times = int(input_data.get("times") or 1)
    return f"{' '.join([str(input_data['text'])] * times)} ({mood}; {answer.get('note')})"


def main() -> None:
    """Serve the agent (masumi is imported here: the tests import this module's schemas)."""
    import uvicorn
    from masumi import Config, create_masumi_app

    port, service_url, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    app = create_masumi_app(
        config=Config(payment_service_url=service_url, payment_api_key=token),
        agent_identifier=AGENT_IDENTIFIER,
        network="Preprod",
        start_job_handler=process,
        input_schema_handler=INPUT_SCHEMA,
        seller_vkey=SELLER_VKEY,
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
