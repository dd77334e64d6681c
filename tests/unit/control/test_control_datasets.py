"""Dataset groups, schemas, datasets, UpdateDataset and the data jobs (api.md §1.1-1.6)."""

from __future__ import annotations

import json

import pytest

from tailor_control.domain import Quotas
from tailor_control.domain.model import Put
from tailor_shared.errors import (
    InvalidInputException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
    ResourceNotFoundException,
    TooManyTagsException,
)
from tailor_shared.schemas import avro_record
from tests.support.control_plane import InMemoryControlPlane
from tests.support.schemas import ITEMS_FIELDS

ROLE = "arn:aws:iam::123456789012:role/PersonalizeRole"
KMS = "arn:aws:kms:us-west-2:123456789012:key/1234"
ACCOUNT_PREFIX = "arn:aws:personalize:us-west-2:123456789012:"


def schema(name: str, fields: list[dict[str, object]]) -> str:
    return json.dumps(avro_record(name, *fields))


USERS = schema("Users", [{"name": "USER_ID", "type": "string"}, {"name": "AGE", "type": ["null", "int"]}])


# --- DatasetGroup ---------------------------------------------------------------------------------------


def test_create_dataset_group_then_advance_makes_it_active(plane: InMemoryControlPlane) -> None:
    response = plane.call("CreateDatasetGroup", {"name": "g-1", "tags": [{"tagKey": "env", "tagValue": "test"}]})
    arn = response["datasetGroupArn"]
    assert response == {"datasetGroupArn": ACCOUNT_PREFIX + "dataset-group/g-1"}
    described = plane.call("DescribeDatasetGroup", {"datasetGroupArn": arn})["datasetGroup"]
    assert described["status"] == "CREATE PENDING"
    assert described["name"] == "g-1"
    assert described["creationDateTime"] == described["lastUpdatedDateTime"]
    plane.advance()
    described = plane.call("DescribeDatasetGroup", {"datasetGroupArn": arn})["datasetGroup"]
    assert described["status"] == "ACTIVE"
    assert described["lastUpdatedDateTime"] > described["creationDateTime"]
    assert plane.call("ListTagsForResource", {"resourceArn": arn}) == {"tags": [{"tagKey": "env", "tagValue": "test"}]}


def test_create_domain_dataset_group_echoes_domain(plane: InMemoryControlPlane) -> None:
    response = plane.call("CreateDatasetGroup", {"name": "shop", "domain": "ECOMMERCE"})
    assert response["domain"] == "ECOMMERCE"
    listed = plane.call("ListDatasetGroups", {})["datasetGroups"]
    assert listed[0]["domain"] == "ECOMMERCE" and "kmsKeyArn" not in listed[0]


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        ({}, "at 'name' failed to satisfy constraint: Member must not be null"),
        ({"name": "-starts-with-dash"}, "regular expression pattern"),
        ({"name": "has space"}, "regular expression pattern"),
        ({"name": "x" * 64}, "length less than or equal to 63"),
        ({"name": "g", "domain": "RETAIL"}, "enum value set: [ECOMMERCE, VIDEO_ON_DEMAND]"),
        ({"name": "g", "kmsKeyArn": KMS}, "roleArn is required when you specify a kmsKeyArn"),
        ({"name": "g", "roleArn": ROLE}, "only valid when you also specify a kmsKeyArn"),
        ({"name": "g", "kmsKeyArn": "arn:aws:kms:bad"}, "kmsKeyArn"),
        ({"name": "g", "kmsKeyArn": KMS, "roleArn": "arn:aws:iam::12:role/x"}, "roleArn"),
    ],
)
def test_create_dataset_group_validation(
    plane: InMemoryControlPlane, request_: dict[str, object], fragment: str
) -> None:
    with pytest.raises(InvalidInputException) as err:
        plane.call("CreateDatasetGroup", request_)
    assert fragment in err.value.message


def test_kms_and_role_together_are_stored(plane: InMemoryControlPlane) -> None:
    arn = plane.call("CreateDatasetGroup", {"name": "enc", "kmsKeyArn": KMS, "roleArn": ROLE})["datasetGroupArn"]
    described = plane.call("DescribeDatasetGroup", {"datasetGroupArn": arn})["datasetGroup"]
    assert described["kmsKeyArn"] == KMS and described["roleArn"] == ROLE


def test_duplicate_dataset_group_name(plane: InMemoryControlPlane, group: str) -> None:
    with pytest.raises(ResourceAlreadyExistsException, match="already exists"):
        plane.call("CreateDatasetGroup", {"name": "movies"})


def test_active_dataset_group_quota(plane: InMemoryControlPlane) -> None:
    for i in range(5):
        plane.call("CreateDatasetGroup", {"name": f"g{i}"})
    with pytest.raises(LimitExceededException, match="5 active dataset groups"):
        plane.call("CreateDatasetGroup", {"name": "g5"})


def test_quota_is_adjustable() -> None:
    plane = InMemoryControlPlane(quotas=Quotas(active_dataset_groups=1))
    plane.call("CreateDatasetGroup", {"name": "a"})
    with pytest.raises(LimitExceededException):
        plane.call("CreateDatasetGroup", {"name": "b"})


def test_describe_unknown_dataset_group(plane: InMemoryControlPlane) -> None:
    with pytest.raises(ResourceNotFoundException, match="dataset-group/nope"):
        plane.call("DescribeDatasetGroup", {"datasetGroupArn": ACCOUNT_PREFIX + "dataset-group/nope"})
    with pytest.raises(InvalidInputException, match="datasetGroupArn"):
        plane.call("DescribeDatasetGroup", {"datasetGroupArn": "not-an-arn"})


def test_delete_dataset_group_in_use_then_empty(plane: InMemoryControlPlane, group: str, interactions: str) -> None:
    with pytest.raises(ResourceInUseException, match="datasets"):
        plane.call("DeleteDatasetGroup", {"datasetGroupArn": group})
    plane.call("DeleteDataset", {"datasetArn": interactions})
    assert plane.call("DeleteDatasetGroup", {"datasetGroupArn": group}) == {}
    assert plane.body(group)["status"] == "DELETE PENDING"
    plane.advance()
    assert plane.store.get(group) is None and plane.store.get(interactions) is None


def test_delete_dataset_group_blocked_by_tracker_and_solution(
    plane: InMemoryControlPlane, group: str, solution: str
) -> None:
    plane.call("CreateEventTracker", {"name": "t", "datasetGroupArn": group})
    with pytest.raises(ResourceInUseException) as err:
        plane.call("DeleteDatasetGroup", {"datasetGroupArn": group})
    assert "event trackers" in err.value.message and "solutions" in err.value.message


def test_cannot_delete_pending_dataset_group(plane: InMemoryControlPlane) -> None:
    arn = plane.call("CreateDatasetGroup", {"name": "p"})["datasetGroupArn"]
    with pytest.raises(ResourceInUseException, match="CREATE PENDING"):
        plane.call("DeleteDatasetGroup", {"datasetGroupArn": arn})


# --- Schema ---------------------------------------------------------------------------------------------


def test_schema_has_no_status_and_deletes_at_once(plane: InMemoryControlPlane) -> None:
    arn = plane.call("CreateSchema", {"name": "users", "schema": USERS})["schemaArn"]
    assert arn == ACCOUNT_PREFIX + "schema/users"
    described = plane.call("DescribeSchema", {"schemaArn": arn})["schema"]
    assert set(described) == {"schemaArn", "name", "schema", "creationDateTime", "lastUpdatedDateTime"}
    assert plane.call("ListSchemas", {})["schemas"][0]["schemaArn"] == arn
    plane.call("DeleteSchema", {"schemaArn": arn})
    assert plane.store.get(arn) is None


def test_schema_validation(plane: InMemoryControlPlane) -> None:
    with pytest.raises(InvalidInputException, match="not valid JSON"):
        plane.call("CreateSchema", {"name": "bad", "schema": "{"})
    with pytest.raises(InvalidInputException, match="at 'schema'"):
        plane.call("CreateSchema", {"name": "bad"})
    with pytest.raises(InvalidInputException, match="length less than or equal to 20000"):
        plane.call("CreateSchema", {"name": "big", "schema": " " * 20001})
    with pytest.raises(InvalidInputException, match="USER_ID"):
        plane.call("CreateSchema", {"name": "bad", "schema": schema("Users", [{"name": "AGE", "type": "int"}])})


def test_duplicate_schema_and_schema_in_use(plane: InMemoryControlPlane, interactions: str) -> None:
    schema_arn = plane.body(interactions)["schemaArn"]
    with pytest.raises(ResourceAlreadyExistsException):
        plane.call("CreateSchema", {"name": "interactions-schema", "schema": USERS})
    with pytest.raises(ResourceInUseException, match="used by dataset"):
        plane.call("DeleteSchema", {"schemaArn": schema_arn})


def test_schema_quota() -> None:
    plane = InMemoryControlPlane(quotas=Quotas(active_schemas=1))
    plane.call("CreateSchema", {"name": "a", "schema": USERS})
    with pytest.raises(LimitExceededException, match="active schemas"):
        plane.call("CreateSchema", {"name": "b", "schema": USERS})


# --- Dataset --------------------------------------------------------------------------------------------


def test_create_dataset_happy_path(plane: InMemoryControlPlane, group: str, interactions: str) -> None:
    assert interactions == ACCOUNT_PREFIX + "dataset/movies/INTERACTIONS"
    described = plane.call("DescribeDataset", {"datasetArn": interactions})["dataset"]
    assert described["datasetType"] == "Interactions"
    assert described["status"] == "ACTIVE"
    assert described["datasetGroupArn"] == group
    assert "trackingId" not in described
    listed = plane.call("ListDatasets", {"datasetGroupArn": group})["datasets"]
    assert [d["datasetArn"] for d in listed] == [interactions]
    assert set(listed[0]) == {"datasetArn", "datasetType", "name", "status", "creationDateTime", "lastUpdatedDateTime"}


def test_dataset_type_is_case_insensitive_and_one_per_type(plane: InMemoryControlPlane, group: str) -> None:
    schema_arn = plane.call("CreateSchema", {"name": "u", "schema": USERS})["schemaArn"]
    arn = plane.call(
        "CreateDataset", {"name": "u1", "datasetGroupArn": group, "datasetType": "USERS", "schemaArn": schema_arn}
    )["datasetArn"]
    assert arn.endswith("dataset/movies/USERS")
    with pytest.raises(ResourceAlreadyExistsException):
        plane.call(
            "CreateDataset", {"name": "u2", "datasetGroupArn": group, "datasetType": "users", "schemaArn": schema_arn}
        )


def test_create_dataset_requires_active_group_and_existing_schema(plane: InMemoryControlPlane) -> None:
    group = plane.call("CreateDatasetGroup", {"name": "new"})["datasetGroupArn"]
    schema_arn = plane.call("CreateSchema", {"name": "u", "schema": USERS})["schemaArn"]
    request = {"name": "u", "datasetGroupArn": group, "datasetType": "Users", "schemaArn": schema_arn}
    with pytest.raises(ResourceInUseException, match="must be ACTIVE"):
        plane.call("CreateDataset", request)
    plane.advance()
    with pytest.raises(ResourceNotFoundException, match="schema/missing"):
        plane.call("CreateDataset", {**request, "schemaArn": ACCOUNT_PREFIX + "schema/missing"})
    with pytest.raises(ResourceNotFoundException):
        plane.call("CreateDataset", {**request, "datasetGroupArn": ACCOUNT_PREFIX + "dataset-group/x"})


def test_create_dataset_validation(plane: InMemoryControlPlane, group: str) -> None:
    schema_arn = plane.call("CreateSchema", {"name": "u", "schema": USERS})["schemaArn"]
    base = {"name": "u", "datasetGroupArn": group, "datasetType": "Users", "schemaArn": schema_arn}
    with pytest.raises(InvalidInputException, match="at 'datasetType'"):
        plane.call("CreateDataset", {**base, "datasetType": "Events"})
    with pytest.raises(InvalidInputException, match="at 'schemaArn'"):
        plane.call("CreateDataset", {k: v for k, v in base.items() if k != "schemaArn"})
    with pytest.raises(InvalidInputException, match="must match the schema name"):
        plane.call("CreateDataset", {**base, "datasetType": "Items"})


def test_domain_rules_for_datasets(plane: InMemoryControlPlane) -> None:
    group = plane.call("CreateDatasetGroup", {"name": "shop", "domain": "ECOMMERCE"})["datasetGroupArn"]
    plane.advance()
    custom_schema = plane.call("CreateSchema", {"name": "u", "schema": USERS})["schemaArn"]
    with pytest.raises(InvalidInputException, match="domain"):
        plane.call(
            "CreateDataset", {"name": "u", "datasetGroupArn": group, "datasetType": "Users", "schemaArn": custom_schema}
        )
    actions = schema(
        "Actions",
        [{"name": "ACTION_ID", "type": "string"}, {"name": "KIND", "type": ["null", "string"], "categorical": True}],
    )
    actions_arn = plane.call("CreateSchema", {"name": "a", "schema": actions})["schemaArn"]
    with pytest.raises(InvalidInputException, match="Domain dataset group"):
        plane.call(
            "CreateDataset", {"name": "a", "datasetGroupArn": group, "datasetType": "Actions", "schemaArn": actions_arn}
        )


def test_action_interactions_dataset_gets_a_tracking_id(plane: InMemoryControlPlane, group: str) -> None:
    fields: list[dict[str, object]] = [
        {"name": "USER_ID", "type": "string"},
        {"name": "ACTION_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
    ]
    schema_arn = plane.call("CreateSchema", {"name": "ai", "schema": schema("Action_Interactions", fields)})[
        "schemaArn"
    ]
    arn = plane.call(
        "CreateDataset",
        {"name": "ai", "datasetGroupArn": group, "datasetType": "action_interactions", "schemaArn": schema_arn},
    )["datasetArn"]
    described = plane.call("DescribeDataset", {"datasetArn": arn})["dataset"]
    assert described["datasetType"] == "Action_Interactions"
    assert len(described["trackingId"]) == 36


def test_delete_dataset_order_rules(plane: InMemoryControlPlane, group: str, interactions: str) -> None:
    tracker = plane.call("CreateEventTracker", {"name": "t", "datasetGroupArn": group})["eventTrackerArn"]
    plane.advance()
    with pytest.raises(ResourceInUseException, match="event tracker"):
        plane.call("DeleteDataset", {"datasetArn": interactions})
    plane.call("DeleteEventTracker", {"eventTrackerArn": tracker})
    plane.call("CreateFilter", {"name": "f", "datasetGroupArn": group, "filterExpression": _EXCLUDE_CLICKED})
    plane.advance()
    with pytest.raises(ResourceInUseException, match="filters"):
        plane.call("DeleteDataset", {"datasetArn": interactions})


_EXCLUDE_CLICKED = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'


def test_delete_dataset_blocked_by_running_import(plane: InMemoryControlPlane, interactions: str) -> None:
    plane.call(
        "CreateDatasetImportJob",
        {"jobName": "imp", "datasetArn": interactions, "dataSource": {"dataLocation": "s3://b/f.csv"}, "roleArn": ROLE},
    )
    with pytest.raises(ResourceInUseException, match="import or export job in progress"):
        plane.call("DeleteDataset", {"datasetArn": interactions})


def test_delete_dataset_blocked_by_training_version(
    plane: InMemoryControlPlane, interactions: str, solution: str
) -> None:
    plane.call("CreateSolutionVersion", {"solutionArn": solution})
    with pytest.raises(ResourceInUseException, match="CREATE PENDING or IN PROGRESS"):
        plane.call("DeleteDataset", {"datasetArn": interactions})


def test_update_dataset_replaces_schema_after_advance(plane: InMemoryControlPlane, items: str) -> None:
    wider = schema("Items", [*ITEMS_FIELDS, {"name": "COLOR", "type": ["null", "string"], "categorical": True}])
    new_arn = plane.call("CreateSchema", {"name": "items-v2", "schema": wider})["schemaArn"]
    assert plane.call("UpdateDataset", {"datasetArn": items, "schemaArn": new_arn}) == {"datasetArn": items}
    described = plane.call("DescribeDataset", {"datasetArn": items})["dataset"]
    assert described["latestDatasetUpdate"]["status"] == "CREATE PENDING"
    assert described["schemaArn"] != new_arn
    with pytest.raises(ResourceInUseException, match="schema update in progress"):
        plane.call("UpdateDataset", {"datasetArn": items, "schemaArn": new_arn})
    plane.advance()
    described = plane.call("DescribeDataset", {"datasetArn": items})["dataset"]
    assert described["schemaArn"] == new_arn
    assert described["latestDatasetUpdate"] == {
        "schemaArn": new_arn,
        "status": "ACTIVE",
        "creationDateTime": described["latestDatasetUpdate"]["creationDateTime"],
        "lastUpdatedDateTime": described["latestDatasetUpdate"]["lastUpdatedDateTime"],
    }


def test_update_dataset_rules(plane: InMemoryControlPlane, interactions: str, items: str) -> None:
    narrower = schema("Items", ITEMS_FIELDS[:2])
    narrow_arn = plane.call("CreateSchema", {"name": "narrow", "schema": narrower})["schemaArn"]
    with pytest.raises(InvalidInputException, match="must keep the field PRICE"):
        plane.call("UpdateDataset", {"datasetArn": items, "schemaArn": narrow_arn})
    retyped = schema("Items", [*ITEMS_FIELDS[:2], {"name": "PRICE", "type": ["null", "double"]}])
    retyped_arn = plane.call("CreateSchema", {"name": "retyped", "schema": retyped})["schemaArn"]
    with pytest.raises(InvalidInputException, match="can't change the data type"):
        plane.call("UpdateDataset", {"datasetArn": items, "schemaArn": retyped_arn})
    not_null = schema("Items", [*ITEMS_FIELDS, {"name": "SIZE", "type": "int"}])
    not_null_arn = plane.call("CreateSchema", {"name": "notnull", "schema": not_null})["schemaArn"]
    with pytest.raises(InvalidInputException, match="must support null"):
        plane.call("UpdateDataset", {"datasetArn": items, "schemaArn": not_null_arn})
    with pytest.raises(InvalidInputException, match="can't replace the schema of an Interactions dataset"):
        plane.call("UpdateDataset", {"datasetArn": interactions, "schemaArn": narrow_arn})


# --- DatasetImportJob / DatasetExportJob / DataDeletionJob ----------------------------------------------


def _import(plane: InMemoryControlPlane, dataset: str, name: str, **extra: object) -> str:
    request = {"jobName": name, "datasetArn": dataset, "dataSource": {"dataLocation": "s3://b/f.csv"}, "roleArn": ROLE}
    return str(plane.call("CreateDatasetImportJob", {**request, **extra})["datasetImportJobArn"])


def test_import_job_lifecycle_and_job(plane: InMemoryControlPlane, interactions: str) -> None:
    arn = _import(plane, interactions, "imp-1", tags=[{"tagKey": "k", "tagValue": "v"}])
    assert arn == ACCOUNT_PREFIX + "dataset-import-job/imp-1"
    job = plane.jobs[-1]
    assert (job.job_type, job.resource_arn, job.resource_type) == ("DATASET_IMPORT", arn, "datasetImportJob")
    assert job.payload["datasetType"] == "Interactions" and job.payload["importMode"] == "FULL"
    described = plane.call("DescribeDatasetImportJob", {"datasetImportJobArn": arn})["datasetImportJob"]
    assert described["status"] == "CREATE PENDING" and described["dataSource"] == {"dataLocation": "s3://b/f.csv"}
    plane.report({"resourceArn": arn, "status": "CREATE IN_PROGRESS"})
    plane.report({"resourceArn": arn, "status": "ACTIVE"})
    listed = plane.call("ListDatasetImportJobs", {"datasetArn": interactions})["datasetImportJobs"]
    assert listed[0]["status"] == "ACTIVE" and listed[0]["importMode"] == "FULL"


def test_incremental_import_needs_a_previous_bulk_import(plane: InMemoryControlPlane, interactions: str) -> None:
    with pytest.raises(InvalidInputException, match="you can only specify FULL"):
        _import(plane, interactions, "inc", importMode="INCREMENTAL")
    first = _import(plane, interactions, "full")
    with pytest.raises(ResourceInUseException, match="import job in progress"):
        _import(plane, interactions, "second")
    plane.report({"resourceArn": first, "status": "ACTIVE"})
    arn = _import(plane, interactions, "inc", importMode="INCREMENTAL")
    assert plane.body(arn)["importMode"] == "INCREMENTAL"


def test_import_job_validation(plane: InMemoryControlPlane, interactions: str) -> None:
    with pytest.raises(InvalidInputException, match="at 'dataSource'"):
        plane.call("CreateDatasetImportJob", {"jobName": "j", "datasetArn": interactions, "roleArn": ROLE})
    with pytest.raises(InvalidInputException, match=r"dataSource\.dataLocation"):
        plane.call(
            "CreateDatasetImportJob",
            {"jobName": "j", "datasetArn": interactions, "roleArn": ROLE, "dataSource": {"dataLocation": "ftp://x"}},
        )
    with pytest.raises(InvalidInputException, match="at 'roleArn'"):
        _import(plane, interactions, "j", roleArn="arn:aws:personalize:::role")
    with pytest.raises(InvalidInputException, match="FULL, INCREMENTAL"):
        _import(plane, interactions, "j", importMode="APPEND")


def test_pending_import_job_quota(plane: InMemoryControlPlane, group: str) -> None:
    plane.quotas = Quotas(pending_dataset_import_jobs=1)
    first = _make_items(plane, group)
    _import(plane, first, "a")
    users_schema = plane.call("CreateSchema", {"name": "users", "schema": USERS})["schemaArn"]
    users = plane.call(
        "CreateDataset", {"name": "users", "datasetGroupArn": group, "datasetType": "Users", "schemaArn": users_schema}
    )["datasetArn"]
    plane.advance()
    with pytest.raises(LimitExceededException, match="dataset import jobs"):
        _import(plane, users, "b")


def _make_items(plane: InMemoryControlPlane, group: str) -> str:
    schema_arn = plane.call("CreateSchema", {"name": "items", "schema": schema("Items", ITEMS_FIELDS)})["schemaArn"]
    arn = plane.call(
        "CreateDataset", {"name": "items", "datasetGroupArn": group, "datasetType": "Items", "schemaArn": schema_arn}
    )["datasetArn"]
    plane.advance()
    return str(arn)


def test_export_job_defaults_to_put(plane: InMemoryControlPlane, interactions: str) -> None:
    arn = plane.call(
        "CreateDatasetExportJob",
        {
            "jobName": "exp",
            "datasetArn": interactions,
            "roleArn": ROLE,
            "jobOutput": {"s3DataDestination": {"path": "s3://b/out/"}},
        },
    )["datasetExportJobArn"]
    described = plane.call("DescribeDatasetExportJob", {"datasetExportJobArn": arn})["datasetExportJob"]
    assert described["ingestionMode"] == "PUT"
    assert described["jobOutput"] == {"s3DataDestination": {"path": "s3://b/out/"}}
    assert plane.jobs[-1].job_type == "DATASET_EXPORT"
    assert plane.call("ListDatasetExportJobs", {})["datasetExportJobs"][0]["datasetExportJobArn"] == arn
    with pytest.raises(InvalidInputException, match=r"jobOutput\.s3DataDestination"):
        plane.call(
            "CreateDatasetExportJob", {"jobName": "e2", "datasetArn": interactions, "roleArn": ROLE, "jobOutput": {}}
        )


def test_data_deletion_job_vocabulary_and_quota(plane: InMemoryControlPlane, group: str) -> None:
    plane.quotas = Quotas(pending_data_deletion_jobs_per_group=2)
    request = {"datasetGroupArn": group, "dataSource": {"dataLocation": "s3://b/users.csv"}, "roleArn": ROLE}
    first = plane.call("CreateDataDeletionJob", {**request, "jobName": "d1"})["dataDeletionJobArn"]
    described = plane.call("DescribeDataDeletionJob", {"dataDeletionJobArn": first})["dataDeletionJob"]
    assert described["status"] == "PENDING"
    assert plane.jobs[-1].job_type == "DATA_DELETION"
    plane.call("CreateDataDeletionJob", {**request, "jobName": "d2"})
    with pytest.raises(LimitExceededException, match="PENDING data deletion jobs"):
        plane.call("CreateDataDeletionJob", {**request, "jobName": "d3"})
    plane.report({"resourceArn": first, "status": "IN_PROGRESS"})
    plane.report({"resourceArn": first, "status": "COMPLETED", "fields": {"numDeleted": 12}})
    described = plane.call("DescribeDataDeletionJob", {"dataDeletionJobArn": first})["dataDeletionJob"]
    assert (described["status"], described["numDeleted"]) == ("COMPLETED", 12)
    plane.call("CreateDataDeletionJob", {**request, "jobName": "d3"})
    listed = plane.call("ListDataDeletionJobs", {"datasetGroupArn": group})["dataDeletionJobs"]
    assert [j["jobName"] for j in listed] == ["d3", "d2", "d1"]  # most recent first


def test_data_deletion_job_requires_role(plane: InMemoryControlPlane, group: str) -> None:
    with pytest.raises(InvalidInputException, match="at 'roleArn'"):
        plane.call(
            "CreateDataDeletionJob",
            {"jobName": "d", "datasetGroupArn": group, "dataSource": {"dataLocation": "s3://b/u.csv"}},
        )


def test_tags_at_create_are_limited(plane: InMemoryControlPlane) -> None:
    tags = [{"tagKey": f"k{i}", "tagValue": "v"} for i in range(51)]
    with pytest.raises(TooManyTagsException, match="at most 50"):
        plane.call("CreateDatasetGroup", {"name": "g", "tags": tags})


def test_data_deletion_switch_moves_the_dataset_to_its_new_generation(
    plane: InMemoryControlPlane, group: str, interactions: str
) -> None:
    """ADR 0015: the worker announces generations, then asks for the switch; control rewrites the dataset's
    _incarnation (and nothing else visible), once, and only from the announced old incarnation."""
    request = {"datasetGroupArn": group, "dataSource": {"dataLocation": "s3://b/users.csv"}, "roleArn": ROLE}
    job = plane.call("CreateDataDeletionJob", {**request, "jobName": "forget"})["dataDeletionJobArn"]
    old = plane.body(interactions)["_incarnation"]
    visible = {k: v for k, v in plane.body(interactions).items() if not k.startswith("_")}
    generations = {interactions: {"from": old, "to": "0badcafe"}}
    plane.report({"resourceArn": job, "status": "IN_PROGRESS", "fields": {"_generations": generations}})
    assert plane.body(job)["_generations"] == generations
    assert plane.body(interactions)["_incarnation"] == old  # announced, not switched
    plane.report({"resourceArn": job, "status": "IN_PROGRESS", "fields": {"_switched": True}})
    assert plane.body(interactions)["_incarnation"] == "0badcafe"
    assert {k: v for k, v in plane.body(interactions).items() if not k.startswith("_")} == visible
    described = plane.call("DescribeDataset", {"datasetArn": interactions})["dataset"]
    assert "_incarnation" not in described
    # A repeated report changes nothing; a generation from another incarnation is never applied.
    again = plane.report({"resourceArn": job, "status": "IN_PROGRESS", "fields": {"_switched": True}})
    assert [c for c in again if isinstance(c, Put) and c.record.arn == interactions] == []
    other = plane.call("CreateDataDeletionJob", {**request, "jobName": "again"})["dataDeletionJobArn"]
    stale = {interactions: {"from": old, "to": "12345678"}}
    plane.report({"resourceArn": other, "status": "IN_PROGRESS", "fields": {"_generations": stale}})
    plane.report({"resourceArn": other, "status": "IN_PROGRESS", "fields": {"_switched": True}})
    assert plane.body(interactions)["_incarnation"] == "0badcafe"
    plane.report({"resourceArn": job, "status": "COMPLETED", "fields": {"numDeleted": 3}})
    assert (
        plane.call("DescribeDataDeletionJob", {"dataDeletionJobArn": job})["dataDeletionJob"]["status"] == "COMPLETED"
    )


def test_a_dataset_is_not_deleted_under_a_running_data_deletion_job(
    plane: InMemoryControlPlane, group: str, interactions: str
) -> None:
    request = {"datasetGroupArn": group, "dataSource": {"dataLocation": "s3://b/users.csv"}, "roleArn": ROLE}
    job = plane.call("CreateDataDeletionJob", {**request, "jobName": "forget"})["dataDeletionJobArn"]
    with pytest.raises(ResourceInUseException, match="data deletion job in progress"):
        plane.call("DeleteDataset", {"datasetArn": interactions})
    plane.report({"resourceArn": job, "status": "IN_PROGRESS"})
    with pytest.raises(ResourceInUseException, match="data deletion job in progress"):
        plane.call("DeleteDataset", {"datasetArn": interactions})
    plane.report({"resourceArn": job, "status": "FAILED", "failureReason": "bad input"})
    plane.call("DeleteDataset", {"datasetArn": interactions})
