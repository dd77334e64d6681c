"""IAM-style policy evaluation (tailor_shared.iam): IAM's rules, the operation -> resource mapping, and the
shipped example policies (docs/examples/policies)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from tailor_shared import arns
from tailor_shared.auth import Principal
from tailor_shared.errors import AccessDeniedException
from tailor_shared.iam import (
    CONSOLE_SERVICE,
    Authorizer,
    Decision,
    Policy,
    PolicyError,
    action_of,
    evaluate,
    matches,
    parse_policy,
    request_resources,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "policies"
REGION, ACCOUNT = "us-east-1", "000000000000"
CAMPAIGN = arns.campaign_arn(REGION, ACCOUNT, "shop-home")
OTHER_CAMPAIGN = arns.campaign_arn(REGION, ACCOUNT, "news-home")
TRACKER = arns.event_tracker_arn(REGION, ACCOUNT, "shop-tracker")


def _policy(*statements: Mapping[str, object]) -> list[Policy]:
    return [parse_policy({"Version": "2012-10-17", "Statement": list(statements)})]


def test_wildcards_star_and_question_mark() -> None:
    assert matches("arn:aws:personalize:*:*:campaign/*", CAMPAIGN)
    assert matches("arn:aws:personalize:us-east-1:000000000000:campaign/shop-?ome", CAMPAIGN)
    assert not matches("arn:aws:personalize:us-east-1:000000000000:campaign/shop-?", CAMPAIGN)
    assert not matches("arn:aws:personalize:us-east-1:000000000000:campaign/shop.home", CAMPAIGN)  # '.' literal
    assert not matches("arn:aws:personalize:*:*:Campaign/*", CAMPAIGN)  # resources are case-sensitive
    assert matches("personalize:get*", "personalize:GetRecommendations", ignore_case=True)


def test_default_deny_allow_and_explicit_deny_wins() -> None:
    allow = {"Effect": "Allow", "Action": "personalize:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "personalize:Delete*", "Resource": "*"}
    assert evaluate([], "personalize:DescribeCampaign", [CAMPAIGN]) is Decision.IMPLICIT_DENY
    assert evaluate(_policy(allow), "personalize:DeleteCampaign", [CAMPAIGN]) is Decision.ALLOW
    both = _policy(allow, deny)
    assert evaluate(both, "personalize:DeleteCampaign", [CAMPAIGN]) is Decision.EXPLICIT_DENY
    assert evaluate(both, "personalize:DescribeCampaign", [CAMPAIGN]) is Decision.ALLOW
    # A deny in another policy wins too, whatever the order.
    split = [parse_policy({"Statement": deny}), parse_policy({"Statement": allow})]
    assert evaluate(split, "personalize:DeleteSolution", ["*"]) is Decision.EXPLICIT_DENY


def test_action_names_are_case_insensitive_and_service_scoped() -> None:
    policy = _policy({"Effect": "Allow", "Action": "PERSONALIZE:getrecommendations", "Resource": "*"})
    assert evaluate(policy, "personalize:GetRecommendations", [CAMPAIGN]) is Decision.ALLOW
    other = _policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    assert evaluate(other, "personalize:GetRecommendations", [CAMPAIGN]) is Decision.IMPLICIT_DENY


def test_not_action_and_not_resource() -> None:
    policy = _policy(
        {"Effect": "Allow", "NotAction": "personalize:Delete*", "Resource": "*"},
        {"Effect": "Deny", "Action": "personalize:*", "NotResource": "arn:aws:personalize:*:*:campaign/shop-*"},
    )
    assert evaluate(policy, "personalize:DescribeCampaign", [CAMPAIGN]) is Decision.ALLOW
    assert evaluate(policy, "personalize:DeleteCampaign", [CAMPAIGN]) is Decision.IMPLICIT_DENY
    assert evaluate(policy, "personalize:DescribeCampaign", [OTHER_CAMPAIGN]) is Decision.EXPLICIT_DENY


def test_every_resource_of_a_request_must_be_allowed() -> None:
    policy = _policy({"Effect": "Allow", "Action": "personalize:GetRecommendations", "Resource": CAMPAIGN})
    filt = arns.filter_arn(REGION, ACCOUNT, "shop-no-toys")
    assert evaluate(policy, "personalize:GetRecommendations", [CAMPAIGN]) is Decision.ALLOW
    assert evaluate(policy, "personalize:GetRecommendations", [CAMPAIGN, filt]) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        [],
        {"Statement": []},
        {"Version": "2020-01-01", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}},
        {"Statement": {"Effect": "allow", "Action": "*", "Resource": "*"}},
        {"Statement": {"Effect": "Allow", "Resource": "*"}},
        {"Statement": {"Effect": "Allow", "Action": "*", "NotAction": "*", "Resource": "*"}},
        {"Statement": {"Effect": "Allow", "Action": "*"}},
        {"Statement": {"Effect": "Allow", "Action": "GetRecommendations", "Resource": "*"}},
        {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}},
        {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Typo": 1}},
        {"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}},
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}], "Extra": 1},
    ],
)
def test_malformed_policies_are_refused(document: object) -> None:
    with pytest.raises(PolicyError):
        parse_policy(document)


def test_request_resources_per_operation() -> None:
    dg = arns.dataset_group_arn(REGION, ACCOUNT, "shop")
    sol = arns.solution_arn(REGION, ACCOUNT, "shop-sol")
    assert request_resources("CreateDatasetGroup", {"name": "shop"}, REGION, ACCOUNT) == [dg]
    assert request_resources(
        "CreateCampaign", {"name": "c1", "solution_version_arn": sol + "/abc"}, REGION, ACCOUNT
    ) == [arns.campaign_arn(REGION, ACCOUNT, "c1")]
    assert request_resources(
        "CreateDataset", {"dataset_group_arn": dg, "dataset_type": "Interactions", "name": "x"}, REGION, ACCOUNT
    ) == [arns.dataset_arn(REGION, ACCOUNT, "shop", "INTERACTIONS")]
    assert request_resources("CreateSolutionVersion", {"solution_arn": sol}, REGION, ACCOUNT) == [sol]
    assert request_resources("CreateBatchInferenceJob", {"job_name": "j"}, REGION, ACCOUNT) == [
        arns.batch_inference_job_arn(REGION, ACCOUNT, "j")
    ]
    assert request_resources("DescribeDatasetGroup", {"dataset_group_arn": dg}, REGION, ACCOUNT) == [dg]
    assert request_resources("DeleteSolution", {"solution_arn": sol}, REGION, ACCOUNT) == [sol]
    assert request_resources("DescribeSolutionVersion", {"solution_version_arn": sol + "/v"}, REGION, ACCOUNT) == [
        sol + "/v"
    ]
    assert request_resources("ListCampaigns", {"solution_arn": sol}, REGION, ACCOUNT) == ["*"]
    assert request_resources("ListDatasetGroups", {}, REGION, ACCOUNT) == ["*"]
    filt = arns.filter_arn(REGION, ACCOUNT, "f")
    assert request_resources("GetRecommendations", {"campaign_arn": CAMPAIGN, "filter_arn": filt}, REGION, ACCOUNT) == [
        CAMPAIGN,
        filt,
    ]
    assert request_resources("TagResource", {"resource_arn": CAMPAIGN}, REGION, ACCOUNT) == [CAMPAIGN]
    assert request_resources("PutEvents", {"tracking_id": "t-1"}, REGION, ACCOUNT, {"t-1": TRACKER}.get) == [TRACKER]
    # An unknown tracking id, or no resolver: only a "Resource": "*" statement matches.
    assert request_resources("PutEvents", {"tracking_id": "nope"}, REGION, ACCOUNT, {"t-1": TRACKER}.get) == ["*"]
    assert request_resources("PutEvents", {"tracking_id": "t-1"}, REGION, ACCOUNT) == ["*"]
    assert action_of("CreateSolution") == "personalize:CreateSolution"


def _examples() -> Authorizer:
    return Authorizer.from_file(EXAMPLES / "policies.yaml")


def _principal(arn: str) -> Principal:
    return Principal(arn=arn, account_id=ACCOUNT, access_key_id="AKIDEXAMPLE000000")


ADMIN = _principal("arn:aws:iam::000000000000:user/dev")
ANALYST = _principal("arn:aws:iam::000000000000:user/analyst")
APP = _principal("arn:aws:iam::000000000000:role/shop-application")
STRANGER = _principal("arn:aws:iam::000000000000:user/nobody")


def _allowed(authz: Authorizer, who: Principal, operation: str, fields: dict[str, str]) -> bool:
    resources = request_resources(operation, fields, REGION, ACCOUNT, {"shop-tid": TRACKER}.get)
    return authz.decide(who, action_of(operation), resources) is Decision.ALLOW


def test_example_admin_may_do_everything() -> None:
    authz = _examples()
    for op, fields in [
        ("CreateDatasetGroup", {"name": "x"}),
        ("DeleteCampaign", {"campaign_arn": CAMPAIGN}),
        ("PutEvents", {"tracking_id": "anything"}),
        ("GetRecommendations", {"campaign_arn": OTHER_CAMPAIGN}),
    ]:
        assert _allowed(authz, ADMIN, op, fields), op


def test_example_analyst_reads_but_never_writes() -> None:
    authz = _examples()
    assert _allowed(authz, ANALYST, "DescribeCampaign", {"campaign_arn": CAMPAIGN})
    assert _allowed(authz, ANALYST, "ListSolutions", {})
    assert _allowed(authz, ANALYST, "GetSolutionMetrics", {"solution_version_arn": "arn:x"})
    for op, fields in [
        ("CreateSolution", {"name": "s"}),
        ("DeleteCampaign", {"campaign_arn": CAMPAIGN}),
        ("UpdateCampaign", {"campaign_arn": CAMPAIGN}),
        ("PutEvents", {"tracking_id": "shop-tid"}),
        ("GetRecommendations", {"campaign_arn": CAMPAIGN}),
    ]:
        assert not _allowed(authz, ANALYST, op, fields), op


def test_example_application_puts_events_to_one_tracker_and_recommends_from_its_campaigns() -> None:
    authz = _examples()
    assert _allowed(authz, APP, "PutEvents", {"tracking_id": "shop-tid"})
    assert not _allowed(authz, APP, "PutEvents", {"tracking_id": "other-tid"})
    assert _allowed(authz, APP, "GetRecommendations", {"campaign_arn": CAMPAIGN})
    shop_filter = arns.filter_arn(REGION, ACCOUNT, "shop-in-stock")
    assert _allowed(authz, APP, "GetRecommendations", {"campaign_arn": CAMPAIGN, "filter_arn": shop_filter})
    assert not _allowed(authz, APP, "GetRecommendations", {"campaign_arn": OTHER_CAMPAIGN})
    news_filter = arns.filter_arn(REGION, ACCOUNT, "news-x")
    assert not _allowed(authz, APP, "GetRecommendations", {"campaign_arn": CAMPAIGN, "filter_arn": news_filter})
    assert not _allowed(authz, APP, "DescribeCampaign", {"campaign_arn": CAMPAIGN})
    assert not _allowed(authz, APP, "PutItems", {"dataset_arn": "arn:x"})


def test_console_reads_are_tailor_actions_on_their_resource() -> None:
    """The console's methods are ``tailor:<Method>`` on the resource they read (docs/specs/console-api.md): the
    example admin and analyst may call them, the shop application and a ``personalize:*`` policy may not."""
    dg = arns.dataset_group_arn(REGION, ACCOUNT, "g")
    assert action_of("ListRecentEvents", CONSOLE_SERVICE) == "tailor:ListRecentEvents"
    assert action_of("ListRecentEvents", "tailor.control.v1.PersonalizeControl") == "personalize:ListRecentEvents"
    assert request_resources("ListRecentEvents", {"dataset_group_arn": dg}, REGION, ACCOUNT) == [dg]
    sv = arns.solution_arn(REGION, ACCOUNT, "s") + "/v1"
    assert request_resources("DescribeTrainingProgress", {"solution_version_arn": sv}, REGION, ACCOUNT) == [sv]
    authz = _examples()
    for who, allowed in ((ADMIN, True), (ANALYST, True), (APP, False), (STRANGER, False)):
        decision = authz.decide(who, action_of("ListTrendingItems", CONSOLE_SERVICE), [dg])
        assert (decision is Decision.ALLOW) is allowed, who.arn
    personalize_only = Authorizer(
        {ADMIN.arn: (parse_policy({"Statement": [{"Effect": "Allow", "Action": "personalize:*", "Resource": "*"}]}),)}
    )
    assert personalize_only.decide(ADMIN, action_of("ListTrendingItems", CONSOLE_SERVICE), [dg]) is not Decision.ALLOW


def test_check_raises_access_denied_with_aws_message() -> None:
    authz = _examples()
    with pytest.raises(AccessDeniedException) as err:
        authz.check(STRANGER, "personalize:DescribeCampaign", [CAMPAIGN])
    assert err.value.message == (
        f"User: {STRANGER.arn} is not authorized to perform: personalize:DescribeCampaign on resource: {CAMPAIGN}"
        " because no identity-based policy allows the personalize:DescribeCampaign action"
    )
    denying = Authorizer({APP.arn: (parse_policy({"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}}),)})
    with pytest.raises(AccessDeniedException, match="with an explicit deny in an identity-based policy"):
        denying.check(APP, "personalize:GetRecommendations", [CAMPAIGN])
    authz.check(APP, "personalize:GetRecommendations", [CAMPAIGN])  # allowed: no error


def test_policies_file_errors_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("principals:\n  arn:aws:iam::000000000000:user/a: [missing.json]\n")
    with pytest.raises(PolicyError, match=r"missing\.json"):
        Authorizer.from_file(bad)
    bad.write_text("nope: 1\n")
    with pytest.raises(PolicyError, match="principals"):
        Authorizer.from_file(bad)
