"""The Personalize Events gRPC servicer: validate everything, then produce, then answer.

A call is checked completely (envelope, every record, every property) before its first record is produced,
so a rejected call writes nothing; it answers only after Kafka acknowledged every record (acks=all).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import grpc

from tailor.events.v1 import events_pb2, events_pb2_grpc
from tailor_ingest import domain
from tailor_ingest.adapters import TopicGuard
from tailor_ingest.catalog import Catalog
from tailor_shared.kafka import Producer
from tailor_shared.records import RowContext, encode_row

SERVICE_NAME = "tailor.events.v1.PersonalizeEvents"


def new_event_id() -> str:
    """32 hex chars like ``records.new_event_id`` (uuid4().hex), a few microseconds cheaper per event."""
    return os.urandom(16).hex()


class EventsServicer(events_pb2_grpc.PersonalizeEventsServicer):
    """PutEvents, PutItems, PutUsers, PutActions, PutActionInteractions."""

    def __init__(
        self, catalog: Catalog, producer: Producer, topics: TopicGuard, prefix: str, ack_timeout_s: float = 1.0
    ) -> None:
        self._catalog = catalog
        self._producer = producer
        self._topics = topics
        self._prefix = prefix
        self._ack_timeout_s = ack_timeout_s

    async def _write(self, target: domain.Target, rows: Sequence[domain.PreparedRow]) -> None:
        # Fail fast while Kafka is known down (ServiceUnavailableException), before creating a topic.
        self._producer.check_available()
        spec = self._topics.dataset_spec(target.topic, target.dataset_type)
        await self._topics.ensure_async(spec)
        records = [
            encode_row(
                target.topic,
                target.dataset_type,
                target.codec,
                row.values,
                RowContext(
                    dataset_arn=target.dataset_arn,
                    schema_arn=target.schema_arn,
                    event_id=row.event_id,
                    session_id=row.session_id,
                    recommendation_id=row.recommendation_id,
                ),
            )
            for row in rows
        ]
        await self._producer.send_many(records, ack_timeout_s=self._ack_timeout_s)

    async def PutEvents(
        self, request: events_pb2.PutEventsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.PutEventsResponse:
        domain.check_put_events(request)  # before the lookup: a bad trackingId is a validation error
        target = self._catalog.event_tracker(request.tracking_id)
        await self._write(target, domain.put_events(request, target.plan, new_event_id))
        return events_pb2.PutEventsResponse()

    async def PutActionInteractions(
        self, request: events_pb2.PutActionInteractionsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.PutActionInteractionsResponse:
        domain.check_put_action_interactions(request)
        target = self._catalog.action_tracker(request.tracking_id)
        await self._write(target, domain.put_action_interactions(request, target.plan, new_event_id))
        return events_pb2.PutActionInteractionsResponse()

    async def _entities(self, kind: domain.EntityKind, dataset_arn: str, records: list[tuple[str, str]]) -> None:
        domain.check_put_entities(kind, dataset_arn, len(records))
        target = self._catalog.dataset(dataset_arn, kind.dataset_type)
        await self._write(target, domain.put_entities(kind, records, target.plan))

    async def PutItems(
        self, request: events_pb2.PutItemsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.PutItemsResponse:
        await self._entities(domain.ITEMS_KIND, request.dataset_arn, [(i.item_id, i.properties) for i in request.items])
        return events_pb2.PutItemsResponse()

    async def PutUsers(
        self, request: events_pb2.PutUsersRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.PutUsersResponse:
        await self._entities(domain.USERS_KIND, request.dataset_arn, [(u.user_id, u.properties) for u in request.users])
        return events_pb2.PutUsersResponse()

    async def PutActions(
        self, request: events_pb2.PutActionsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.PutActionsResponse:
        await self._entities(
            domain.ACTIONS_KIND, request.dataset_arn, [(a.action_id, a.properties) for a in request.actions]
        )
        return events_pb2.PutActionsResponse()
