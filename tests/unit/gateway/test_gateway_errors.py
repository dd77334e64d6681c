"""AWS error responses as botocore parses them: the code, the message and the HTTP status AWS uses."""

from __future__ import annotations

import pytest
from botocore.parsers import create_parser

from tailor_gateway.adapters import load_models
from tailor_gateway.domain.errors import error_response, error_status
from tailor_gateway.domain.operations import build_router
from tailor_shared.errors import InvalidInputException

MODELS = load_models()
ROUTER = build_router(MODELS)


def _parse(service: str, code: str, message: str) -> tuple[int, dict[str, object]]:
    model = MODELS[service]
    response = error_response(model, code, message)
    op = model.operation_model(model.operation_names[0])
    parsed = create_parser(model.protocol).parse(
        {"status_code": response.status, "headers": dict(response.headers), "body": response.body},
        op.output_shape,  # type: ignore[arg-type]  # None for events' operations; errors never read it
    )
    return response.status, parsed["Error"]


@pytest.mark.parametrize(
    ("service", "code", "status"),
    [
        ("personalize", "ResourceNotFoundException", 400),
        ("personalize", "InvalidInputException", 400),
        ("personalize", "ResourceAlreadyExistsException", 400),
        ("personalize", "LimitExceededException", 400),
        ("personalize", "ThrottlingException", 400),
        ("personalize", "InternalFailure", 500),
        ("personalize", "ServiceUnavailableException", 503),
        ("personalize-events", "InvalidInputException", 400),
        ("personalize-events", "ResourceNotFoundException", 404),
        ("personalize-events", "ResourceInUseException", 409),
        ("personalize-events", "ThrottlingException", 429),
        ("personalize-runtime", "ResourceNotFoundException", 404),
        ("personalize-runtime", "InvalidInputException", 400),
        ("personalize-runtime", "InvalidSignatureException", 403),
        ("personalize", "UnrecognizedClientException", 403),
        ("personalize", "MissingAuthenticationTokenException", 403),
    ],
)
def test_botocore_parses_code_message_and_status(service: str, code: str, status: int) -> None:
    got_status, error = _parse(service, code, "it went wrong")
    assert got_status == status == error_status(MODELS[service], code)
    assert error["Code"] == code
    assert error["Message"] == "it went wrong"


def test_rest_json_errors_carry_the_type_header() -> None:
    response = error_response(MODELS["personalize-runtime"], "ResourceNotFoundException", "no campaign")
    assert ("x-amzn-errortype", "ResourceNotFoundException") in response.headers
    control = error_response(MODELS["personalize"], "ResourceNotFoundException", "no group")
    assert dict(control.headers)["content-type"] == "application/x-amz-json-1.1"


def test_invalid_requests_are_invalid_input() -> None:
    op = ROUTER.for_path("/recommendations")
    assert op is not None
    with pytest.raises(InvalidInputException, match="numResults"):
        op.request({"campaignArn": "arn:aws:personalize:us-east-1:000000000000:campaign/c", "numResults": "ten"})
    create = ROUTER.for_target("AmazonPersonalize.CreateDatasetGroup")
    assert create is not None
    with pytest.raises(InvalidInputException, match="name"):
        create.request({})
    campaign = ROUTER.for_target("AmazonPersonalize.CreateCampaign")
    assert campaign is not None
    # A member of botocore's newer model that Tailor does not implement is refused, never silently dropped.
    with pytest.raises(InvalidInputException, match="rankingInfluence"):
        campaign.request(
            {
                "name": "c",
                "solutionVersionArn": "arn:aws:personalize:us-east-1:000000000000:solution/s/1",
                "campaignConfig": {"rankingInfluence": {"POPULARITY": 0.5}},
            }
        )
