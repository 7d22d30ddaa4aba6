"""Whether the server's default CPU priority treats the database as sharing its host."""

from __future__ import annotations

import pytest

from cohorts.priority import NICENESS_BESIDE_DATABASE, database_on_this_host, default_niceness


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://cohorts_app:pw@localhost/cohorts",
        "postgresql://cohorts_app:pw@127.0.0.1:54321/cohorts",
        "postgresql://cohorts_app@127.0.0.2/cohorts",
        "postgresql://cohorts_app@[::1]:5432/cohorts",
        "postgresql:///cohorts?host=/var/run/postgresql",
        "postgresql:///cohorts",
        "host=localhost dbname=cohorts",
        "postgresql://cohorts_app@localhost,127.0.0.1/cohorts",
    ],
)
def test_a_loopback_or_unix_socket_database_is_on_this_host(url: str):
    assert database_on_this_host(url)
    assert default_niceness(url) == NICENESS_BESIDE_DATABASE


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://cohorts_app:pw@db.internal/cohorts",
        "postgresql://cohorts_app@10.0.0.7:5432/cohorts",
        "postgresql://cohorts_app@[2001:db8::1]/cohorts",
        "postgresql://cohorts_app@localhost,db-replica/cohorts",
        "not a connection string",
    ],
)
def test_any_other_database_is_treated_as_elsewhere(url: str):
    assert not database_on_this_host(url)
    assert default_niceness(url) == 0
