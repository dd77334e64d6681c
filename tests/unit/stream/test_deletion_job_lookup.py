"""A data deletion job whose resource record this process's view has not read yet is not "finished": the worker
catches the view up first (the job used to be committed unrun and stay PENDING when the stream's view lagged)."""

from __future__ import annotations

from tailor_shared.resources import InMemoryResources, ResourceRecord
from tailor_stream.deletion import current_record

J = "arn:aws:personalize:us-east-1:000000000000:data-deletion-job/forget"


class LaggingView(InMemoryResources):
    """Holds back records until ``catch_up``, as a ResourceView behind the resources topic does."""

    def __init__(self, behind: list[ResourceRecord]) -> None:
        super().__init__()
        self.behind = behind
        self.catch_ups = 0

    def catch_up(self, timeout: float = 30.0) -> None:
        self.catch_ups += 1
        for record in self.behind:
            self.put(record)
        self.behind = []


def test_a_record_the_view_has_not_read_yet_is_found_after_a_catch_up() -> None:
    job = ResourceRecord(J, "dataDeletionJob", {"status": "PENDING"})
    view = LaggingView([job])
    assert current_record(view, J) == job
    assert view.catch_ups == 1
    assert current_record(view, J) == job and view.catch_ups == 1  # known: no second catch-up


def test_a_record_that_is_really_gone_is_none() -> None:
    view = LaggingView([])
    assert current_record(view, J) is None and view.catch_ups == 1


def test_a_view_without_catch_up_is_read_as_it_is() -> None:
    assert current_record(InMemoryResources(), J) is None
