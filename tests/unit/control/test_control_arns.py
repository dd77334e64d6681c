"""ARN shapes (api.md §3) and parsing."""

from __future__ import annotations

from tailor_shared import arns


def test_builders_follow_the_guide_examples() -> None:
    r, a = "us-west-2", "123456789012"
    assert arns.dataset_group_arn(r, a, "MovieRatingDatasetGroup") == (
        "arn:aws:personalize:us-west-2:123456789012:dataset-group/MovieRatingDatasetGroup"
    )
    assert arns.dataset_arn(r, a, "MovieRatingDatasetGroup", "Interactions").endswith(
        ":dataset/MovieRatingDatasetGroup/INTERACTIONS"
    )
    assert arns.dataset_arn(r, a, "g", "Action_Interactions").endswith(":dataset/g/ACTION_INTERACTIONS")
    assert arns.schema_arn(r, a, "s").endswith(":schema/s")
    assert arns.dataset_import_job_arn(r, a, "j").endswith(":dataset-import-job/j")
    assert arns.dataset_export_job_arn(r, a, "j").endswith(":dataset-export-job/j")
    assert arns.data_deletion_job_arn(r, a, "j").endswith(":data-deletion-job/j")
    assert arns.event_tracker_arn(r, a, "t").endswith(":event-tracker/t")
    assert arns.filter_arn(r, a, "f").endswith(":filter/f")
    assert arns.solution_arn(r, a, "s").endswith(":solution/s")
    assert arns.solution_version_arn(arns.solution_arn(r, a, "s"), "ab12cd34").endswith(":solution/s/ab12cd34")
    assert arns.campaign_arn(r, a, "c").endswith(":campaign/c")
    assert arns.recommender_arn(r, a, "x").endswith(":recommender/x")
    assert arns.batch_inference_job_arn(r, a, "b").endswith(":batch-inference-job/b")
    assert arns.batch_segment_job_arn(r, a, "b").endswith(":batch-segment-job/b")
    assert arns.metric_attribution_arn(r, a, "m").endswith(":metric-attribution/m")
    assert arns.recipe_arn("aws-sims") == "arn:aws:personalize:::recipe/aws-sims"
    assert arns.algorithm_arn("aws-sims") == "arn:aws:personalize:::algorithm/aws-sims"
    assert arns.feature_transformation_arn("sims") == "arn:aws:personalize:::feature-transformation/sims"


def test_parse_distinguishes_solutions_and_versions() -> None:
    solution = arns.parse("arn:aws:personalize:us-west-2:123456789012:solution/s")
    version = arns.parse("arn:aws:personalize:us-west-2:123456789012:solution/s/ab12cd34")
    assert solution is not None and solution.resource_type == "solution" and solution.name == "s"
    assert version is not None and version.resource_type == "solutionVersion"
    assert version.parts == ("s", "ab12cd34")
    dataset = arns.parse("arn:aws:personalize:us-west-2:123456789012:dataset/g/ITEMS")
    assert dataset is not None and dataset.resource_type == "dataset" and dataset.parts == ("g", "ITEMS")
    assert dataset.region == "us-west-2" and dataset.account == "123456789012"
    assert arns.resource_type_of("arn:aws:personalize:::recipe/aws-sims") == "recipe"


def test_parse_rejects_non_personalize_arns() -> None:
    assert arns.parse("arn:aws:s3:::bucket/key") is None
    assert arns.parse("arn:aws:personalize:us-west-2:1:unknown-type/x") is None
    assert arns.parse("arn:aws:personalize:us-west-2:1:solution/a/b/c") is None
    assert arns.parse("arn:aws:personalize:us-west-2:1:dataset/g") is None
    assert arns.parse("not an arn") is None


def test_latest_alias_and_patterns() -> None:
    solution = arns.solution_arn("us-east-1", "123456789012", "s")
    assert arns.is_latest_alias(solution + arns.LATEST_SUFFIX)
    assert arns.solution_arn_of(solution + "/$LATEST") == solution
    assert arns.ARN_PATTERN.fullmatch(solution)
    assert not arns.ARN_PATTERN.fullmatch("arn:aws:personalize:us-east-1:123:")
    assert arns.ROLE_ARN_PATTERN.fullmatch("arn:aws:iam::123456789012:role/PersonalizeRole")
    assert not arns.ROLE_ARN_PATTERN.fullmatch("arn:aws:iam::1234:role/R")
    assert arns.KMS_ARN_PATTERN.fullmatch("arn:aws:kms:us-west-2:123456789012:key/abc")


def test_derived_ids_are_deterministic_and_distinct() -> None:
    assert arns.short_id("a", 1.0) == arns.short_id("a", 1.0)
    assert arns.short_id("a", 1.0) != arns.short_id("a", 2.0)
    assert len(arns.short_id("a")) == 8
    tracking = arns.uuid_like("x", 1.0)
    assert [len(p) for p in tracking.split("-")] == [8, 4, 4, 4, 12]
