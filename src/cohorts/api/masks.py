"""Which fields an UpdateCohort request replaces (AIP-134, AIP-161)."""

from __future__ import annotations

from learning.v1 import cohort_service_pb2

from cohorts.domain.cohort import CLIENT_FIELDS, SERVER_FIELDS
from cohorts.domain.errors import FieldViolation, InvalidArgument

WILDCARD = "*"
MAX_MASK_PATHS = 100


def fields_to_replace(request: cohort_service_pb2.UpdateCohortRequest) -> frozenset[str]:
    """The client fields to replace.

    Validated here rather than with protobuf's FieldMask helpers: their
    MergeMessage appends repeated fields and merges messages, and
    IsValidForDescriptor rejects `*`.
    """
    paths = list(request.update_mask.paths)
    if not paths:
        # No mask: every field populated in the request (AIP-134).
        return frozenset(
            field.name for field, _ in request.cohort.ListFields() if field.name in CLIENT_FIELDS
        )
    if len(paths) > MAX_MASK_PATHS:
        raise InvalidArgument(
            [
                FieldViolation(
                    "update_mask.paths",
                    f"has {len(paths)} paths; at most {MAX_MASK_PATHS} are allowed",
                )
            ]
        )
    violations: list[FieldViolation] = []
    selected: set[str] = set()
    for index, path in enumerate(paths):
        where = f"update_mask.paths[{index}]"
        if path == WILDCARD:
            if len(set(paths)) > 1:
                violations.append(
                    FieldViolation(where, "`*` must be the only path when it is used")
                )
            selected.update(CLIENT_FIELDS)
        elif path in CLIENT_FIELDS:
            selected.add(path)
        elif path in SERVER_FIELDS:
            continue  # output-only fields are ignored, not rejected (AIP-161)
        else:
            root = path.split(".", 1)[0].split("[", 1)[0]
            if root in CLIENT_FIELDS or root in SERVER_FIELDS:
                violations.append(
                    FieldViolation(
                        where,
                        f"`{path}` points inside `{root}`; name the whole field, "
                        "which is replaced whole",
                    )
                )
            else:
                violations.append(FieldViolation(where, f"`{path}` is not a field of Cohort"))
    if violations:
        raise InvalidArgument(violations)
    return frozenset(selected)
