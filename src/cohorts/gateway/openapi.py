"""The OpenAPI 3.1 document of the HTTP/JSON API, generated from the contract.

`make generate` runs this over a descriptor set built with source info (for the proto
comments); `make lint` regenerates and compares, so the committed document cannot go
stale. No offline generator handles this contract (proto3 `optional`,
`google.api.field_behavior`, `google.rpc` error details), hence this small one.

It describes what Envoy's transcoder serves (docs/http.md): paths from the
`google.api.http` annotations, proto3 JSON bodies (lowerCamelCase names, 64-bit
integers as strings, RFC 3339 timestamps, enums by name), request fields that are
neither in the path nor in the body as query parameters, and the JSON
`google.rpc.Status` every failure answers with.

    python -m cohorts.gateway.openapi DESCRIPTOR_SET > cohort_service.openapi.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, field_behavior_pb2, http_pb2
from google.protobuf import descriptor_pb2

from cohorts.gateway.descriptors import SERVICE

FieldProto = descriptor_pb2.FieldDescriptorProto
_SCHEMAS = "#/components/schemas/"
_ERROR_RESPONSE = "#/components/responses/Error"
_INT32 = {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
_UINT32 = {"type": "integer", "format": "int32", "minimum": 0, "maximum": 2**32 - 1}
# proto3 JSON writes 64-bit integers as decimal strings (JavaScript numbers lose precision).
_INT64 = {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}
_UINT64 = {"type": "string", "format": "uint64", "pattern": "^[0-9]+$"}
_SCALARS: dict[int, dict[str, Any]] = {
    FieldProto.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldProto.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldProto.TYPE_INT32: _INT32,
    FieldProto.TYPE_SINT32: _INT32,
    FieldProto.TYPE_SFIXED32: _INT32,
    FieldProto.TYPE_UINT32: _UINT32,
    FieldProto.TYPE_FIXED32: _UINT32,
    FieldProto.TYPE_INT64: _INT64,
    FieldProto.TYPE_SINT64: _INT64,
    FieldProto.TYPE_SFIXED64: _INT64,
    FieldProto.TYPE_UINT64: _UINT64,
    FieldProto.TYPE_FIXED64: _UINT64,
    FieldProto.TYPE_BOOL: {"type": "boolean"},
    FieldProto.TYPE_STRING: {"type": "string"},
    FieldProto.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}
# The well-known types have JSON forms of their own (protobuf's JSON mapping).
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339, UTC (`Z`), e.g. `2027-03-01T00:00:00Z`.",
    },
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$",
        "description": "Seconds with an `s` suffix, e.g. `1.5s`.",
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "Comma-separated field paths, e.g. `name,sessionCount`.",
    },
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
}
# The error details the API sends, named so clients can tell them apart by `@type`.
_ERROR_DETAILS = (
    "google.rpc.ErrorInfo",
    "google.rpc.BadRequest",
    "google.rpc.RetryInfo",
    "google.rpc.RequestInfo",
)
_HTTP_VERBS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class _Message:
    proto: descriptor_pb2.DescriptorProto
    comments: dict[tuple[int, ...], str]
    path: tuple[int, ...]  # where its comments live in its file's source info


class _Contract:
    """The descriptor set, indexed by full name, with each element's leading comment."""

    def __init__(self, files: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, _Message] = {}
        self.enums: dict[str, tuple[descriptor_pb2.EnumDescriptorProto, str, list[str]]] = {}
        self.services: dict[str, tuple[descriptor_pb2.ServiceDescriptorProto, dict[Any, str]]] = {}
        for file in files.file:
            comments = {
                tuple(location.path): _clean(location.leading_comments)
                for location in file.source_code_info.location
                if location.leading_comments
            }
            prefix = f"{file.package}." if file.package else ""
            for index, message in enumerate(file.message_type):
                self._add_message(prefix, message, comments, (4, index))
            for index, enum in enumerate(file.enum_type):
                self._add_enum(prefix, enum, comments, (5, index))
            for index, service in enumerate(file.service):
                self.services[prefix + service.name] = (
                    service,
                    {
                        "service": comments.get((6, index), ""),
                        **{
                            method.name: comments.get((6, index, 2, number), "")
                            for number, method in enumerate(service.method)
                        },
                    },
                )

    def _add_message(
        self,
        prefix: str,
        message: descriptor_pb2.DescriptorProto,
        comments: dict[tuple[int, ...], str],
        path: tuple[int, ...],
    ) -> None:
        name = prefix + message.name
        self.messages[name] = _Message(message, comments, path)
        for index, nested in enumerate(message.nested_type):
            self._add_message(f"{name}.", nested, comments, (*path, 3, index))
        for index, enum in enumerate(message.enum_type):
            self._add_enum(f"{name}.", enum, comments, (*path, 4, index))

    def _add_enum(
        self,
        prefix: str,
        enum: descriptor_pb2.EnumDescriptorProto,
        comments: dict[tuple[int, ...], str],
        path: tuple[int, ...],
    ) -> None:
        values = [
            f"- `{value.name}`: {comments.get((*path, 2, index), '').replace(chr(10), ' ')}"
            for index, value in enumerate(enum.value)
        ]
        self.enums[prefix + enum.name] = (enum, comments.get(path, ""), values)

    def comment(self, message: _Message, field_index: int | None = None) -> str:
        path = message.path if field_index is None else (*message.path, 2, field_index)
        return message.comments.get(path, "")


def _clean(comment: str) -> str:
    lines = [line[1:] if line.startswith(" ") else line for line in comment.strip("\n").split("\n")]
    return "\n".join(lines).strip()


def _first_sentence(comment: str) -> str:
    paragraph = comment.split("\n\n")[0].replace("\n", " ")
    return paragraph.split(". ")[0].rstrip(".")


def _behaviors(field: descriptor_pb2.FieldDescriptorProto) -> set[int]:
    # googleapis-common-protos' stubs type its extensions loosely.
    behaviors: list[int] = field.options.Extensions[field_behavior_pb2.field_behavior]  # type: ignore[index]
    return set(behaviors)


def _is_map(contract: _Contract, field: descriptor_pb2.FieldDescriptorProto) -> bool:
    entry = contract.messages.get(field.type_name.lstrip("."))
    return entry is not None and entry.proto.options.map_entry


class _Schemas:
    """components.schemas, filled with each message and enum as it is first referenced."""

    def __init__(self, contract: _Contract) -> None:
        self._contract = contract
        self.schemas: dict[str, Any] = {}

    def reference(self, full_name: str) -> dict[str, Any]:
        if full_name not in self.schemas:
            self.schemas[full_name] = {}  # placeholder: messages may refer to themselves
            self.schemas[full_name] = self._define(full_name)
        return {"$ref": _SCHEMAS + full_name}

    def _define(self, full_name: str) -> dict[str, Any]:
        if full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[full_name])
        if full_name in self._contract.enums:
            enum, comment, values = self._contract.enums[full_name]
            description = "\n".join(filter(None, [comment, "\n".join(values)]))
            return {
                "type": "string",
                "enum": [value.name for value in enum.value],
                "description": description,
            }
        message = self._contract.messages[full_name]
        schema = self.object_schema(message)
        if full_name in _ERROR_DETAILS:
            schema["properties"] = {
                "@type": {"const": f"type.googleapis.com/{full_name}"},
                **schema["properties"],
            }
            schema["required"] = ["@type", *schema.get("required", [])]
        return schema

    def object_schema(
        self, message: _Message, *, skip: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for index, field in enumerate(message.proto.field):
            if field.name in skip:
                continue
            schema = self.field_schema(field)
            description = self._contract.comment(message, index)
            behaviors = _behaviors(field)
            if field_behavior_pb2.OUTPUT_ONLY in behaviors or (
                field_behavior_pb2.IDENTIFIER in behaviors
            ):
                schema = {**schema, "readOnly": True}
            if field_behavior_pb2.REQUIRED in behaviors:
                required.append(field.json_name)
            if description:
                schema = {**schema, "description": description}
            properties[field.json_name] = schema
        result: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            result["required"] = required
        comment = self._contract.comment(message)
        if comment:
            result["description"] = comment
        return result

    def field_schema(self, field: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        if _is_map(self._contract, field):
            entry = self._contract.messages[field.type_name.lstrip(".")].proto
            return {"type": "object", "additionalProperties": self._single(entry.field[1])}
        single = self._single(field)
        if field.label == FieldProto.LABEL_REPEATED:
            return {"type": "array", "items": single}
        return single

    def _single(self, field: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        if field.type in (FieldProto.TYPE_MESSAGE, FieldProto.TYPE_ENUM):
            return self.reference(field.type_name.lstrip("."))
        return dict(_SCALARS[field.type])


def _segments(template: str) -> Iterator[str]:
    """Variable names in a google.api.http path template: `{cohort.id}` gives `cohort.id`."""
    rest = template
    while "{" in rest:
        start = rest.index("{")
        end = rest.index("}", start)
        yield rest[start + 1 : end].split("=")[0]
        rest = rest[end + 1 :]


def _parameter_name(variable: str) -> str:
    # `{cohort.id}` is documented as `{id}`: one URL shape must have one template (OpenAPI
    # 3.1, "Paths"), and tools expand templates with str.format, where a dot is an attribute.
    return variable.rsplit(".", 1)[-1]


def _operation(
    contract: _Contract,
    schemas: _Schemas,
    method: descriptor_pb2.MethodDescriptorProto,
    rule: http_pb2.HttpRule,
    comment: str,
) -> tuple[str, str, dict[str, Any]]:
    verb = next(name for name in _HTTP_VERBS if getattr(rule, name))
    template = getattr(rule, verb)
    request = contract.messages[method.input_type.lstrip(".")]
    fields = {field.name: (index, field) for index, field in enumerate(request.proto.field)}
    path_variables = list(_segments(template))
    parameters: list[dict[str, Any]] = []
    for variable in path_variables:
        top = variable.split(".")[0]
        index, field = fields[top]
        description = contract.comment(request, index)
        if "." in variable:  # a field of a message field: describe the leaf
            nested = contract.messages[field.type_name.lstrip(".")]
            leaf_index, _ = next(
                (i, f) for i, f in enumerate(nested.proto.field) if f.name == variable.split(".")[1]
            )
            description = contract.comment(nested, leaf_index)
        parameters.append(
            {
                "name": _parameter_name(variable),
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": description,
            }
        )
    in_path = {variable.split(".")[0] for variable in path_variables}
    operation: dict[str, Any] = {
        "operationId": method.name,
        "summary": _first_sentence(comment) or method.name,
        "description": comment,
        "tags": ["Cohorts"],
    }
    if rule.body == "*":
        body_schema = schemas.object_schema(request, skip=frozenset(in_path))
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": body_schema}},
        }
    elif rule.body:
        index, field = fields[rule.body]
        operation["requestBody"] = {
            "required": field_behavior_pb2.REQUIRED in _behaviors(field),
            "description": contract.comment(request, index),
            "content": {"application/json": {"schema": schemas.field_schema(field)}},
        }
    if rule.body != "*":
        for name, (index, field) in fields.items():
            if name in in_path or name == rule.body:
                continue
            parameters.append(
                {
                    "name": field.json_name,
                    "in": "query",
                    "required": False,
                    "schema": schemas.field_schema(field),
                    "description": contract.comment(request, index),
                }
            )
    operation["parameters"] = parameters
    response = method.output_type.lstrip(".")
    operation["responses"] = {
        "200": {
            "description": "OK",
            "content": {"application/json": {"schema": schemas.reference(response)}},
        },
        "default": {"$ref": _ERROR_RESPONSE},
    }
    for variable in path_variables:
        template = template.replace(f"{{{variable}}}", f"{{{_parameter_name(variable)}}}")
    return template, verb, operation


def generate(files: descriptor_pb2.FileDescriptorSet) -> dict[str, Any]:
    """The OpenAPI 3.1 document for CohortService's HTTP annotations."""
    contract = _Contract(files)
    schemas = _Schemas(contract)
    service, comments = contract.services[SERVICE.full_name]
    paths: dict[str, dict[str, Any]] = {}
    for method in service.method:
        rule: http_pb2.HttpRule = method.options.Extensions[annotations_pb2.http]  # type: ignore[index]
        template, verb, operation = _operation(
            contract, schemas, method, rule, comments[method.name]
        )
        paths.setdefault(template, {})[verb] = operation
    schemas.reference("google.rpc.Status")
    for detail in _ERROR_DETAILS:
        schemas.reference(detail)
    status = schemas.schemas["google.rpc.Status"]
    status["properties"]["details"]["items"] = {
        "anyOf": [{"$ref": _SCHEMAS + detail} for detail in _ERROR_DETAILS]
        + [{"$ref": _SCHEMAS + "google.protobuf.Any"}]
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CohortService HTTP/JSON API",
            "version": SERVICE.file.package.rsplit(".", 1)[-1],
            "description": comments["service"],
        },
        "tags": [{"name": "Cohorts", "description": "Cohorts of the caller's tenant."}],
        "security": [{"bearerAuth": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A JWT carrying `tenant_id` and `sub` (and `app_id` for an "
                    "application), as over gRPC.",
                }
            },
            "responses": {
                "Error": {
                    "description": "A `google.rpc.Status`: `code` is the gRPC code, `details` "
                    "hold an ErrorInfo (stable `reason`, domain `cohorts.learning.v1`) and, for "
                    "invalid fields, a BadRequest. The HTTP status follows google/rpc/code.proto "
                    "(400 invalid, 401 unauthenticated, 404 not found, 409 conflict, 503 "
                    "unavailable, 504 deadline exceeded, 500 internal).",
                    "content": {
                        "application/json": {"schema": {"$ref": _SCHEMAS + "google.rpc.Status"}}
                    },
                }
            },
            "schemas": dict(sorted(schemas.schemas.items())),
        },
    }


def render(files: descriptor_pb2.FileDescriptorSet) -> str:
    """The document as the committed JSON text (stable key order, trailing newline)."""
    return json.dumps(generate(files), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the document for the descriptor set named on the command line."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m cohorts.gateway.openapi DESCRIPTOR_SET", file=sys.stderr)
        return 2
    files = descriptor_pb2.FileDescriptorSet.FromString(Path(args[0]).read_bytes())
    sys.stdout.write(render(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
