"""The calls a benchmark makes: request bodies, the Call h2load rotates, a check they answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import field_mask_pb2, struct_pb2, timestamp_pb2
from learning.v1 import cohort_pb2, cohort_service_pb2

from bench.dataset import Dataset
from bench.echo_server import ECHO_PATH
from bench.h2load import Request, grpc_frame
from bench.http_face import API, ECHO_ROUTE, create_body, update_body

PATH = "/learning.v1.CohortService/"
LIST_FILTER = 'status = COHORT_STATUS_ACTIVE AND program_id = "prog-leadership"'
LIST_ORDER = "start_date desc"

CREATE_METADATA: dict[str, Any] = {
    "room": "Virtual room 7 (Teams)",
    "cost_centre": "CC-4410-LEARNING-EMEA",
    "language": "en",
    "timezone": "Europe/London",
    "sponsor": {"name": "Head of People Development", "email": "people-dev@example.com"},
    "schedule": {
        "weekday": "tuesday",
        "start": "18:00",
        "end": "19:30",
        "exceptions": ["2027-04-13", "2027-04-20"],
    },
    "capacity": {"min": 8, "max": 24, "waitlist": True},
    "materials": [
        {"title": "Course handbook", "url": "https://lms.example.com/m/handbook-2027.pdf"},
        {"title": "Pre-reading pack", "url": "https://lms.example.com/m/pre-reading-2027.pdf"},
        {"title": "Session recordings", "url": "https://lms.example.com/m/recordings/lead-b"},
    ],
    "notes": (
        "Evening cohort for people managers in their first year. Sessions are remote; "
        "the kick-off and the final presentation day are in person at the London office. "
        "Participants are expected to complete the pre-reading before the first session "
        "and to bring one real team situation to each workshop."
    ),
    "external_ref": "SF-OPP-0099123",
    "budget": {"currency": "GBP", "amount": 14250.5, "approved": True},
}


def _ts(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def create_request() -> cohort_service_pb2.CreateCohortRequest:
    """A realistic create: every client field set, metadata of about 1 KiB, no request_id."""
    metadata = struct_pb2.Struct()
    metadata.update(CREATE_METADATA)
    cohort = cohort_pb2.Cohort(
        name="Leadership Essentials - Spring 2027 cohort B (evening, remote)",
        source="lms-sync",
        source_type=cohort_pb2.SOURCE_TYPE_BACKEND,
        group_id="grp-6f1c2a9e-5b7d-4e8a-9c0f-1a2b3c4d5e6f",
        program_id="prog-leadership",
        start_date=_ts(datetime(2027, 3, 1, 9, tzinfo=UTC)),
        end_date=_ts(datetime(2027, 5, 24, 17, tzinfo=UTC)),
        status=cohort_pb2.COHORT_STATUS_SCHEDULED,
        session_count=12,
        facilitator_ids=["person-0042", "person-0117", "person-0230"],
        assigned_assessment_ids=[
            "asm-0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
            "asm-7d6c5b4a-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
        ],
        completion_required_pct=80.0,
        current_completion_pct=0.0,
        metadata=metadata,
        tags=["evening", "remote", "pilot"],
    )
    return cohort_service_pb2.CreateCohortRequest(cohort=cohort)


def list_request(filtered: bool) -> cohort_service_pb2.ListCohortsRequest:
    """A page of 50: the default order, or filtered by status and programme, by start date."""
    if filtered:
        return cohort_service_pb2.ListCohortsRequest(
            page_size=50, filter=LIST_FILTER, order_by=LIST_ORDER
        )
    return cohort_service_pb2.ListCohortsRequest(page_size=50)


def update_request(cohort_id: str, n: int) -> cohort_service_pb2.UpdateCohortRequest:
    """Rename one cohort: one field, by mask; no version (see the module notes)."""
    return cohort_service_pb2.UpdateCohortRequest(
        cohort=cohort_pb2.Cohort(id=cohort_id, name=f"Bench rename {n:06d}"),
        update_mask=field_mask_pb2.FieldMask(paths=["name"]),
    )


@dataclass
class Call:
    """One method with the bodies (and, over HTTP, the paths) h2load rotates through.

    A gRPC call posts framed messages to one path; an HTTP/JSON call (grpc=False)
    sends its method to each of its paths in turn, with its JSON body if it has one.
    An echo call is served by the echo server (bench/echo_server.py), any
    other by the service. A call with requests sends whole requests in turn
    (each its own path, token and body; bench/tenant_traffic.py), and kinds
    names their kinds for the per-kind latencies.
    """

    name: str
    path: str
    messages: list[bytes]
    grpc: bool = True
    http_method: str = "POST"
    paths: list[str] = field(default_factory=list)
    echo: bool = False
    requests: list[Request] = field(default_factory=list)
    kinds: tuple[str, ...] = ()

    @property
    def frames(self) -> list[bytes]:
        """The bodies as sent: gRPC-framed, or JSON as they are."""
        if not self.grpc:
            return self.messages
        return [grpc_frame(message) for message in self.messages]

    def headers(self, bearer: str) -> dict[str, str]:
        """The request headers h2load sends."""
        if self.grpc:
            protocol = {"content-type": "application/grpc", "te": "trailers"}
        else:
            protocol = {":method": self.http_method, "content-type": "application/json"}
        return protocol | {"authorization": f"Bearer {bearer}"}


def calls_for(dataset: Dataset) -> dict[str, Call]:
    """The gRPC scenarios' calls, and the echo ceiling's (the GetCohort bytes, echoed)."""
    gets = [cohort_service_pb2.GetCohortRequest(id=i).SerializeToString() for i in dataset.get_ids]
    updates = [
        update_request(cohort_id, n).SerializeToString()
        for n, cohort_id in enumerate(dataset.update_ids)
    ]
    return {
        "echo": Call("echo", ECHO_PATH, gets[:1], echo=True),
        "get": Call("get", PATH + "GetCohort", gets),
        "list": Call("list", PATH + "ListCohorts", [list_request(False).SerializeToString()]),
        "list_filtered": Call(
            "list_filtered", PATH + "ListCohorts", [list_request(True).SerializeToString()]
        ),
        "create": Call("create", PATH + "CreateCohort", [create_request().SerializeToString()]),
        "update": Call("update", PATH + "UpdateCohort", updates),
    }


def http_calls_for(dataset: Dataset) -> dict[str, Call]:
    """The HTTP/JSON twins of the gRPC scenarios, and the HTTP echo ceiling."""

    def http(
        name: str, method: str, paths: list[str], body: bytes | None = None, echo: bool = False
    ) -> Call:
        messages = [body] if body else []
        return Call(name, paths[0], messages, False, method, paths, echo)

    echoes = [ECHO_ROUTE.format(id=i) for i in dataset.get_ids]
    return {
        "http_echo": http("http_echo", "GET", echoes, echo=True),
        "http_get": http("http_get", "GET", [f"{API}/{i}" for i in dataset.get_ids]),
        "http_list": http("http_list", "GET", [f"{API}?pageSize=50"]),
        "http_create": http("http_create", "POST", [API], create_body(create_request())),
        "http_update": http(
            "http_update",
            "PATCH",
            [f"{API}/{i}?updateMask=name" for i in dataset.update_ids],
            update_body(),
        ),
    }


def sanity_check(target: str, bearer: str, calls: list[Call], samples: int) -> None:
    """Every body kind answers OK over a real gRPC client before h2load runs it."""
    metadata = (("authorization", f"Bearer {bearer}"),)
    with grpc.insecure_channel(target) as channel:
        for call in calls:
            # Raw bytes in and out.
            invoke = channel.unary_unary(
                call.path, request_serializer=None, response_deserializer=None
            )
            step = max(1, len(call.messages) // samples)
            for message in call.messages[::step][:samples]:
                try:
                    invoke(message, metadata=metadata, timeout=30)
                except grpc.RpcError as error:
                    raise RuntimeError(
                        f"{call.name}: {error.code().name}: {error.details()}"
                    ) from None


def check_echo_authenticates(target: str, bearer: str, echo: Call) -> None:
    """The echo answers the benchmark's token and refuses one signed with another secret."""
    from cohorts.cli import mint_token

    sanity_check(target, bearer, [echo], samples=1)
    forged = mint_token("x" * 64, tenant="t", subject="s", app=None, ttl_seconds=60)
    with grpc.insecure_channel(target) as channel:
        invoke = channel.unary_unary(echo.path, request_serializer=None, response_deserializer=None)
        try:
            invoke(echo.messages[0], metadata=(("authorization", f"Bearer {forged}"),), timeout=30)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNAUTHENTICATED:
                return
            raise RuntimeError(f"echo with a forged token: {error.code().name}") from None
        raise RuntimeError("the echo server answered a forged token: it does not authenticate")
