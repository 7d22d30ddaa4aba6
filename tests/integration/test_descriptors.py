"""The committed descriptor set and what reflection serves describe the same contract."""

from __future__ import annotations

from pathlib import Path

import grpc
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

DESCRIPTOR_SET = Path(__file__).resolve().parents[2] / "generated/descriptors/learning_v1.binpb"


def _without_json_names(
    file: descriptor_pb2.FileDescriptorProto,
) -> descriptor_pb2.FileDescriptorProto:
    # buf fills json_name; protoc's Python output leaves it derived. Nothing else may differ.
    copy = descriptor_pb2.FileDescriptorProto()
    copy.CopyFrom(file)
    for message in copy.message_type:
        for field in message.field:
            field.ClearField("json_name")
    return copy


def test_reflection_serves_the_descriptors_of_the_committed_descriptor_set(
    channel: grpc.Channel,
) -> None:
    committed = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    reflection = ProtoReflectionDescriptorDatabase(channel)
    learning_files = [f for f in committed.file if f.name.startswith("learning/")]
    assert {f.name for f in learning_files} == {
        "learning/v1/cohort.proto",
        "learning/v1/cohort_service.proto",
    }
    for file in learning_files:
        served = reflection.FindFileByName(file.name)
        # Compared as text: the two sides hold the field_behavior options once as
        # parsed extensions and once as unknown fields, which == tells apart.
        assert str(_without_json_names(served)) == str(_without_json_names(file))
