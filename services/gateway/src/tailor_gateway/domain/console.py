"""The console's read API (docs/specs/console-api.md): ``X-Amz-Target: Tailor.<Action>`` in AWS JSON 1.1, each
action forwarded to the control plane's ``tailor.console.v1.TailorConsole`` method of the same name.

There is no botocore model of these actions: the proto is their contract. Request bodies are parsed by the same
codec as Personalize's (an unknown member or a value of the wrong JSON type is InvalidInputException); the
control plane validates values and authorises ``tailor:<Action>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from tailor.console.v1 import console_pb2
from tailor_gateway.domain import codec
from tailor_shared.iam import CONSOLE_SERVICE

TARGET_PREFIX = "Tailor"
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"


@dataclass(frozen=True)
class ConsoleAction:
    """One console action: the JSON 1.1 target and the gRPC method that serves it (on the control plane)."""

    name: str
    grpc_method: str
    request_type: type[Message]
    response_type: type[Message]
    api: str = "control"  # the backend channel, the error protocol and the metrics label
    protocol: str = "json"
    content_type: str = JSON_CONTENT_TYPE
    has_output: bool = True

    def request(self, body: dict[str, Any]) -> Message:
        return codec.to_proto(body, self.request_type())

    def response(self, message: Message) -> dict[str, Any]:
        """Protobuf's JSON mapping with empty lists kept (``"events": []``: the console iterates them); every
        number is ``optional`` in the proto, so a 0 is sent and an unset one is absent."""
        return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def console_actions() -> dict[str, ConsoleAction]:
    """``Tailor.<Action>`` -> its action, one per method of the console service."""
    service = console_pb2.DESCRIPTOR.services_by_name[CONSOLE_SERVICE.rsplit(".", 1)[1]]
    return {
        f"{TARGET_PREFIX}.{m.name}": ConsoleAction(
            name=m.name,
            grpc_method=f"/{CONSOLE_SERVICE}/{m.name}",
            request_type=getattr(console_pb2, m.input_type.name),
            response_type=getattr(console_pb2, m.output_type.name),
        )
        for m in service.methods
    }
