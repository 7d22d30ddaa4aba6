"""The descriptor set Envoy's transcoder loads, built from the stubs this process imports.

Built at run time from the generated modules rather than shipped as a file, so the
gateway always transcodes exactly the contract the workers serve. It includes
google/rpc/status.proto and error_details.proto: without them Envoy cannot render an
error's `details` (ErrorInfo, BadRequest, RetryInfo) as JSON and drops them.
"""

from __future__ import annotations

import re

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FileDescriptor
from google.rpc import error_details_pb2, status_pb2
from learning.v1 import cohort_service_pb2

SERVICE = cohort_service_pb2.DESCRIPTOR.services_by_name["CohortService"]


def http_bindings() -> list[tuple[str, str]]:
    """(HTTP method, path template) of every method's `google.api.http` annotation."""
    bindings: list[tuple[str, str]] = []
    for method in SERVICE.methods:
        # googleapis-common-protos' stubs type its extensions loosely.
        rule: http_pb2.HttpRule = method.GetOptions().Extensions[annotations_pb2.http]  # type: ignore[index]
        verb = rule.WhichOneof("pattern")
        if verb in ("get", "put", "post", "delete", "patch"):
            bindings.append((verb.upper(), getattr(rule, verb)))
    return bindings


def template_regex(template: str) -> str:
    """An RE2 pattern for a path template's paths: `{var}` is one segment without a `:`.

    The colon is left to the template's custom verb (`{id}:undelete`), so a path matches
    one template only.
    """
    parts = re.split(r"(\{[^}]*\})", template)
    pattern = "".join("[^/:]+" if part.startswith("{") else re.escape(part) for part in parts)
    return f"^{pattern}$"


def _with_dependencies(roots: list[FileDescriptor]) -> list[FileDescriptor]:
    """Every file the roots need, each after its own imports."""
    ordered: list[FileDescriptor] = []
    seen: set[str] = set()

    def visit(file: FileDescriptor) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            visit(dependency)
        ordered.append(file)

    for root in roots:
        visit(root)
    return ordered


def gateway_descriptor_set() -> bytes:
    """A serialized FileDescriptorSet: the service, its imports and google.rpc's error details."""
    roots = [cohort_service_pb2.DESCRIPTOR, status_pb2.DESCRIPTOR, error_details_pb2.DESCRIPTOR]
    files = descriptor_pb2.FileDescriptorSet()
    for file in _with_dependencies(roots):
        files.file.add().MergeFromString(file.serialized_pb)
    return files.SerializeToString()
