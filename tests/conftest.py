"""Fixtures live in plugin modules, from the database up to a gRPC stub."""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.server",
    "tests.fixtures.gateway",
    "tests.fixtures.supervised",
    "tests.fixtures.sql_capture",
]
