"""The Personalize Events API against the real Kafka: round trips, error mapping, nothing written on
rejection, direct producers, and a Kafka outage surfacing as ServiceUnavailableException."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, cast

import grpc
import pytest

from tailor.events.v1 import events_pb2, events_pb2_grpc
from tailor_ingest.adapters import TopicGuard
from tailor_ingest.catalog import Catalog
from tailor_ingest.config import IngestSettings
from tailor_ingest.handlers import SERVICE_NAME, EventsServicer
from tailor_ingest.server import build, start_view
from tailor_shared.avro import AvroCodec
from tailor_shared.dataset_reader import count_records, read_dataset
from tailor_shared.errors import ERROR_TYPE_METADATA_KEY
from tailor_shared.grpc_server import GrpcService, start_server
from tailor_shared.kafka import Producer
from tailor_shared.records import RowContext, encode_row, new_event_id
from tailor_shared.topics import topic_spec
from tailor_tools import identity, localstack, seed
from tailor_tools.client import aio_channel

pytestmark = pytest.mark.integration


def async_stub(channel: grpc.aio.Channel) -> events_pb2_grpc.PersonalizeEventsAsyncStub:
    return cast("events_pb2_grpc.PersonalizeEventsAsyncStub", events_pb2_grpc.PersonalizeEventsStub(channel))


@dataclass
class Ingest:
    stub: events_pb2_grpc.PersonalizeEventsAsyncStub
    group: seed.SeededGroup
    bootstrap: str
    prefix: str

    def topic(self, dataset_type: str) -> str:
        return self.group.topic(self.prefix, dataset_type)

    def read(self, dataset_type: str, **options: Any) -> list[dict[str, Any]]:
        snapshot = read_dataset(
            self.bootstrap, self.topic(dataset_type), dataset_type, seed.SCHEMAS[dataset_type], **options
        )
        return [plain(row) for row in snapshot.rows()]


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars -> Python values, NaN (a null number) -> None."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        value = value.item() if hasattr(value, "item") else value
        out[key] = None if isinstance(value, float) and math.isnan(value) else value
    return out


def settings_for(stack: localstack.StackConfig, prefix: str, **env: str) -> IngestSettings:
    return IngestSettings.from_env(
        {
            "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "TAILOR_TOPIC_PREFIX": prefix,
            "TAILOR_INGEST_PORT": "0",
            "TAILOR_INGEST_WORKER": "false",
            **identity.ensure(stack.state_dir).env(),
            **env,
        }
    )


@pytest.fixture
async def ingest(stack: localstack.StackConfig, topic_prefix: str) -> AsyncIterator[Ingest]:
    group = seed.seed_group(stack.kafka_bootstrap, topic_prefix, "shop", seed.SCHEMAS)
    settings = settings_for(stack, topic_prefix)
    services, hooks = await build(settings)
    handle = await start_server(settings.common, services)
    channel = aio_channel(f"127.0.0.1:{handle.port}")
    try:
        yield Ingest(async_stub(channel), group, stack.kafka_bootstrap, topic_prefix)
    finally:
        await channel.close()
        await handle.stop()
        for hook in hooks:
            await hook()


async def error_of(call: Awaitable[object]) -> tuple[grpc.StatusCode, str, str]:
    """(status, Personalize exception name, message) of a failed call."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    metadata = dict(info.value.trailing_metadata() or ())
    return info.value.code(), str(metadata.get(ERROR_TYPE_METADATA_KEY)), str(info.value.details())


async def test_put_events_round_trip(ingest: Ingest) -> None:
    tracking_id = ingest.group.tracking_id
    assert tracking_id is not None
    await ingest.stub.PutEvents(
        events_pb2.PutEventsRequest(
            tracking_id=tracking_id,
            session_id="session-1",
            user_id="user-1",
            event_list=[
                events_pb2.Event(
                    event_id="event-1",
                    event_type="click",
                    item_id="item-1",
                    sent_at=1_700_000_000.0,
                    event_value=4.5,
                    impression=["item-1", "item-2"],
                    recommendation_id="RID-1",
                    properties=json.dumps({"numRatings": "12", "device": "phone|tv"}),
                ),
                events_pb2.Event(
                    event_id="event-2",
                    event_type="watch",
                    sent_at=1_700_000_001.0,
                    properties=json.dumps({"itemId": "item-9"}),
                    metric_attribution=events_pb2.MetricAttribution(event_attribution_source="newsletter"),
                ),
            ],
        )
    )
    await ingest.stub.PutEvents(  # anonymous: no userId, keyed by the session
        events_pb2.PutEventsRequest(
            tracking_id=tracking_id,
            session_id="session-2",
            event_list=[events_pb2.Event(event_type="click", item_id="item-3", sent_at=1_700_000_002.0)],
        )
    )
    rows = sorted(ingest.read("Interactions", meta_columns=True), key=lambda r: r["TIMESTAMP"])
    common = {
        "RECOMMENDATION_ID": None,
        "EVENT_ATTRIBUTION_SOURCE": None,
        "IMPRESSION": None,
        "DEVICE": None,
        "NUM_RATINGS": None,
        "EVENT_VALUE": None,
        "_source": "put",
        "_import_job": None,
        "_recommendation_id": None,
    }
    assert rows[0] == {
        **common,
        "USER_ID": "user-1",
        "ITEM_ID": "item-1",
        "TIMESTAMP": 1_700_000_000,
        "EVENT_TYPE": "click",
        "EVENT_VALUE": 4.5,
        "IMPRESSION": "item-1|item-2",
        "RECOMMENDATION_ID": "RID-1",
        "DEVICE": "phone|tv",
        "NUM_RATINGS": 12,
        "_event_id": "event-1",
        "_session_id": "session-1",
        "_recommendation_id": "RID-1",
    }
    assert rows[1] == {
        **common,
        "USER_ID": "user-1",
        "ITEM_ID": "item-9",
        "TIMESTAMP": 1_700_000_001,
        "EVENT_TYPE": "watch",
        "EVENT_ATTRIBUTION_SOURCE": "newsletter",
        "_event_id": "event-2",
        "_session_id": "session-1",
    }
    assert rows[2]["USER_ID"] == "" and rows[2]["_session_id"] == "session-2" and len(rows[2]["_event_id"]) == 32


async def test_put_items_users_actions_and_action_interactions(ingest: Ingest) -> None:
    g = ingest.group
    await ingest.stub.PutItems(
        events_pb2.PutItemsRequest(
            dataset_arn=g.dataset_arn("Items"),
            items=[
                events_pb2.Item(item_id="i1", properties=json.dumps({"genres": "Horror", "creationTimestamp": 1})),
                events_pb2.Item(
                    item_id="i2",
                    properties=json.dumps({"genres": "Drama", "price": 3.5, "creationTimestamp": "1700000000"}),
                ),
            ],
        )
    )
    # The same id again replaces the record (L8315).
    await ingest.stub.PutItems(
        events_pb2.PutItemsRequest(
            dataset_arn=g.dataset_arn("Items"),
            items=[
                events_pb2.Item(
                    item_id="i1", properties=json.dumps({"genres": "Horror|Action", "creationTimestamp": 2})
                ),
            ],
        )
    )
    await ingest.stub.PutUsers(
        events_pb2.PutUsersRequest(
            dataset_arn=g.dataset_arn("Users"),
            users=[
                events_pb2.User(user_id="u1", properties=json.dumps({"age": "42", "membershipType": "gold|student"})),
            ],
        )
    )
    await ingest.stub.PutActions(
        events_pb2.PutActionsRequest(
            dataset_arn=g.dataset_arn("Actions"),
            actions=[
                events_pb2.Action(action_id="a1", properties=json.dumps({"value": "10", "repeatFrequency": 7})),
            ],
        )
    )
    assert g.action_tracking_id is not None
    await ingest.stub.PutActionInteractions(
        events_pb2.PutActionInteractionsRequest(
            tracking_id=g.action_tracking_id,
            action_interactions=[
                events_pb2.ActionInteraction(
                    action_id="a1", event_type="Taken", session_id="s1", user_id="u1", timestamp=1_700_000_000
                )
            ],
        )
    )
    items = sorted(ingest.read("Items"), key=lambda r: r["ITEM_ID"])
    assert items == [
        {"ITEM_ID": "i1", "GENRES": "Horror|Action", "PRICE": None, "CREATION_TIMESTAMP": 2, "DESCRIPTION": None},
        {"ITEM_ID": "i2", "GENRES": "Drama", "PRICE": 3.5, "CREATION_TIMESTAMP": 1_700_000_000, "DESCRIPTION": None},
    ]
    assert len(ingest.read("Items", latest_per_id=False)) == 3
    assert ingest.read("Users") == [{"USER_ID": "u1", "AGE": 42, "MEMBERSHIP_TYPE": "gold|student"}]
    assert ingest.read("Actions") == [{"ACTION_ID": "a1", "VALUE": 10, "MEMBERSHIP_LEVEL": None, "REPEAT_FREQUENCY": 7}]
    assert ingest.read("Action_Interactions") == [
        {"USER_ID": "u1", "ACTION_ID": "a1", "EVENT_TYPE": "Taken", "TIMESTAMP": 1_700_000_000, "IMPRESSION": None}
    ]


async def test_errors_are_personalize_exceptions_and_a_rejected_call_writes_nothing(ingest: Ingest) -> None:
    g = ingest.group
    assert g.tracking_id is not None
    good = events_pb2.Event(event_type="click", item_id="i1", sent_at=1_700_000_000.0)
    await ingest.stub.PutEvents(
        events_pb2.PutEventsRequest(tracking_id=g.tracking_id, session_id="s", event_list=[good])
    )
    before = count_records(ingest.bootstrap, ingest.topic("Interactions"))
    assert before == 1

    code, kind, message = await error_of(
        ingest.stub.PutEvents(
            events_pb2.PutEventsRequest(tracking_id="no-such-tracker", session_id="s", event_list=[good])
        )
    )
    assert (code, kind) == (grpc.StatusCode.NOT_FOUND, "ResourceNotFoundException") and "no-such-tracker" in message

    bad = events_pb2.Event(event_type="click", item_id="i1", sent_at=1_700_000_000.0, properties='{"userId": "x"}')
    code, kind, message = await error_of(
        ingest.stub.PutEvents(
            events_pb2.PutEventsRequest(tracking_id=g.tracking_id, session_id="s", event_list=[good, good, bad])
        )
    )
    assert (code, kind) == (grpc.StatusCode.INVALID_ARGUMENT, "InvalidInputException")
    assert "eventList.3.member.properties" in message and "userId" in message

    code, kind, message = await error_of(
        ingest.stub.PutEvents(
            events_pb2.PutEventsRequest(tracking_id=g.tracking_id, session_id="s", event_list=[good] * 11)
        )
    )
    assert kind == "InvalidInputException" and "eventList" in message and "10" in message

    code, kind, _ = await error_of(
        ingest.stub.PutItems(
            events_pb2.PutItemsRequest(
                dataset_arn=g.dataset_arn("Items").replace("/ITEMS", "/NOPE"), items=[events_pb2.Item(item_id="i")]
            )
        )
    )
    assert (code, kind) == (grpc.StatusCode.NOT_FOUND, "ResourceNotFoundException")
    code, kind, message = await error_of(
        ingest.stub.PutItems(
            events_pb2.PutItemsRequest(dataset_arn=g.dataset_arn("Users"), items=[events_pb2.Item(item_id="i")])
        )
    )
    assert kind == "InvalidInputException" and "Users dataset" in message
    code, kind, message = await error_of(
        ingest.stub.PutUsers(
            events_pb2.PutUsersRequest(
                dataset_arn=g.dataset_arn("Users"),
                users=[events_pb2.User(user_id="u1"), events_pb2.User(user_id="u2", properties='{"age": "x"}')],
            )
        )
    )
    assert kind == "InvalidInputException" and "users.2.member.properties" in message
    code, kind, _ = await error_of(
        ingest.stub.PutActionInteractions(
            events_pb2.PutActionInteractionsRequest(
                tracking_id="nope",
                action_interactions=[
                    events_pb2.ActionInteraction(action_id="a", event_type="Taken", session_id="s", timestamp=1)
                ],
            )
        )
    )
    assert kind == "ResourceNotFoundException"

    assert count_records(ingest.bootstrap, ingest.topic("Interactions")) == before
    assert count_records(ingest.bootstrap, ingest.topic("Users")) == 0


async def test_a_directly_produced_record_reads_back_identically(ingest: Ingest) -> None:
    """The docs example of docs/specs/topics.md: an application producing to the topic itself."""
    codec = AvroCodec(json.dumps(seed.SCHEMAS["Interactions"]))
    topic = ingest.topic("Interactions")
    TopicGuard(ingest.bootstrap).ensure(topic_spec(ingest.topic("Interactions"), "Interactions"))
    row = {
        "USER_ID": "u1",
        "ITEM_ID": "i42",
        "TIMESTAMP": 1_700_000_000,
        "EVENT_TYPE": "click",
        "EVENT_VALUE": 2.25,
        "IMPRESSION": None,
        "RECOMMENDATION_ID": None,
        "EVENT_ATTRIBUTION_SOURCE": None,
        "DEVICE": "phone",
        "NUM_RATINGS": 3,
    }
    event_id = new_event_id()
    ctx = RowContext(
        dataset_arn=ingest.group.dataset_arn("Interactions"),
        schema_arn=ingest.group.schema_arns["Interactions"],
        event_id=event_id,
        session_id="s-1",
    )
    producer = Producer(ingest.bootstrap)
    await producer.send(encode_row(topic, "Interactions", codec, row, ctx))
    producer.close()
    [read] = ingest.read("Interactions", meta_columns=True)
    assert read == {
        **row,
        "_source": "put",
        "_event_id": event_id,
        "_session_id": "s-1",
        "_import_job": None,
        "_recommendation_id": None,
    }


async def test_a_kafka_outage_is_service_unavailable_never_a_silent_drop(
    stack: localstack.StackConfig, topic_prefix: str
) -> None:
    group = seed.seed_group(stack.kafka_bootstrap, topic_prefix, "down", {"Users": seed.SCHEMAS["Users"]})
    settings = settings_for(stack, topic_prefix)
    view = await start_view(settings)
    catalog = Catalog(view, topic_prefix)
    # A producer whose broker is unreachable: deliveries time out after 1.5 s.
    producer = Producer("127.0.0.1:1", **{"message.timeout.ms": 1500})
    servicer = EventsServicer(catalog, producer, TopicGuard(stack.kafka_bootstrap), topic_prefix)
    handle = await start_server(
        settings.common, [GrpcService(events_pb2_grpc.add_PersonalizeEventsServicer_to_server, servicer, SERVICE_NAME)]
    )
    channel = aio_channel(f"127.0.0.1:{handle.port}")
    try:
        stub = events_pb2_grpc.PersonalizeEventsStub(channel)
        code, kind, message = await error_of(
            stub.PutUsers(
                events_pb2.PutUsersRequest(
                    dataset_arn=group.dataset_arn("Users"), users=[events_pb2.User(user_id="u1")]
                ),
                timeout=30,
            )
        )
        assert (code, kind) == (grpc.StatusCode.UNAVAILABLE, "ServiceUnavailableException"), message
        assert "Kafka" in message
    finally:
        await channel.close()
        await handle.stop()
        producer.close(timeout=0.1)
        view.stop()
