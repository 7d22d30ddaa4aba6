"""A typed Python client for learning.v1.CohortService, for other services to import.

    from cohorts.client import Client
    client = Client("localhost:50051", token=token)
    cohort = client.learning.cohorts.create(name="Spring 2027", program_id="p1")

It depends only on grpc, protobuf, grpcio-status, googleapis-common-protos and
the generated learning.v1 modules, never on the server's own packages.
"""

from cohorts.client.aio import AsyncClient, AsyncCohorts
from cohorts.client.calls import Backoff, TokenProvider
from cohorts.client.errors import (
    AlreadyExists,
    CohortError,
    Conflict,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from cohorts.client.messages import Cohort, CohortChanges, CohortFields
from cohorts.client.sync import Client, Cohorts

__all__ = [
    "AlreadyExists",
    "AsyncClient",
    "AsyncCohorts",
    "Backoff",
    "Client",
    "Cohort",
    "CohortChanges",
    "CohortError",
    "CohortFields",
    "Cohorts",
    "Conflict",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "NotFound",
    "TokenProvider",
    "Unauthenticated",
    "Unavailable",
]
