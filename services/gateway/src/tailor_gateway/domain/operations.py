"""The operation table: which AWS request is which gRPC method, with botocore's model of each (no I/O).

Three AWS APIs, each a botocore service model (``personalize``: JSON 1.1, ``POST /`` with
``X-Amz-Target: AmazonPersonalize.<Operation>``; ``personalize-events`` and ``personalize-runtime``: REST-JSON,
``POST /<path>``) and a gRPC service of the same operations. The models are loaded by the caller
(``tailor_gateway.adapters.load_models``) and passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from botocore.model import OperationModel, ServiceModel
from botocore.validate import ParamValidator
from google.protobuf.message import Message

from tailor.control.v1 import control_pb2
from tailor.events.v1 import events_pb2
from tailor.runtime.v1 import runtime_pb2
from tailor_gateway.domain import codec
from tailor_gateway.domain.console import ConsoleAction, console_actions
from tailor_shared.errors import InvalidInputException

#: api -> (botocore service name, proto module, gRPC service full name)
APIS: dict[str, tuple[str, ModuleType, str]] = {
    "control": ("personalize", control_pb2, "tailor.control.v1.PersonalizeControl"),
    "events": ("personalize-events", events_pb2, "tailor.events.v1.PersonalizeEvents"),
    "runtime": ("personalize-runtime", runtime_pb2, "tailor.runtime.v1.PersonalizeRuntime"),
}

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
REST_JSON_CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class Operation:
    """One AWS operation and the gRPC method that serves it."""

    api: str
    name: str
    model: OperationModel
    grpc_method: str  # "/tailor.runtime.v1.PersonalizeRuntime/GetRecommendations"
    request_type: type[Message]
    response_type: type[Message]
    protocol: str  # "json" | "rest-json"
    _validator: ParamValidator = field(default_factory=ParamValidator, repr=False, compare=False)

    def request(self, body: dict[str, Any]) -> Message:
        """Validate an AWS request body against botocore's input shape, then build the gRPC request."""
        shape = self.model.input_shape
        if shape is not None:
            report = self._validator.validate(body, shape)
            if report.has_errors():
                raise InvalidInputException(report.generate_report())
        return codec.to_proto(body, self.request_type())

    def response(self, message: Message) -> dict[str, Any]:
        """The gRPC response as the AWS response body."""
        if self.model.output_shape is None:
            return {}
        return codec.to_wire(message)

    @property
    def content_type(self) -> str:
        return JSON_CONTENT_TYPE if self.protocol == "json" else REST_JSON_CONTENT_TYPE

    @property
    def has_output(self) -> bool:
        return self.model.output_shape is not None


#: What the gateway forwards: a Personalize operation or a console action (docs/specs/console-api.md).
Forwarded = Operation | ConsoleAction


@dataclass(frozen=True)
class Router:
    """The operations of the three APIs, by ``X-Amz-Target`` (control) and by request path (events, runtime)."""

    models: dict[str, ServiceModel]
    by_target: dict[str, Operation]
    by_path: dict[str, Operation]
    #: botocore operations with no gRPC method (a newer botocore than the protos): answered UnknownOperation.
    unserved: frozenset[str]
    #: The console's reads, by ``X-Amz-Target`` (``Tailor.<Action>``).
    console: dict[str, ConsoleAction] = field(default_factory=console_actions)

    def for_target(self, target: str) -> Forwarded | None:
        return self.by_target.get(target) or self.console.get(target)

    def for_path(self, path: str) -> Operation | None:
        return self.by_path.get(path)


def build_router(models: dict[str, ServiceModel]) -> Router:
    """``models``: botocore service name -> its ServiceModel (personalize, personalize-events, -runtime)."""
    by_target: dict[str, Operation] = {}
    by_path: dict[str, Operation] = {}
    unserved: set[str] = set()
    for api, (service_name, module, grpc_service) in APIS.items():
        model = models[service_name]
        service = module.DESCRIPTOR.services_by_name[grpc_service.rsplit(".", 1)[1]]
        methods = {m.name: m for m in service.methods}
        for name in model.operation_names:
            method = methods.get(name)
            if method is None:
                unserved.add(f"{service_name}.{name}")
                continue
            op_model = model.operation_model(name)
            op = Operation(
                api=api,
                name=name,
                model=op_model,
                grpc_method=f"/{grpc_service}/{name}",
                request_type=getattr(module, method.input_type.name),
                response_type=getattr(module, method.output_type.name),
                protocol=model.protocol,
            )
            if model.protocol == "json":
                by_target[f"{model.metadata['targetPrefix']}.{name}"] = op
            else:
                by_path[op_model.http["requestUri"]] = op
    return Router(models=models, by_target=by_target, by_path=by_path, unserved=frozenset(unserved))
