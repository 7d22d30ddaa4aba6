"""The database ceiling: the SQL the service sends per RPC, driven by pgbench -M prepared.

The statements are not written by hand: the harness captures them from the
running service (PostgreSQL's log_statement for the service's role, one call
of each kind, see `capture_sql` in bench/db_ceiling.py), so the ceiling follows
the storage code as it changes. `script()` turns one call's statements into a
pgbench script:

* parameter values become literals, except the cohort id (drawn at random
  from the same ids the h2load bodies rotate through, by a scalar subquery
  over `bench_ids` / `bench_update_ids`), the id of a created cohort (made
  from a random number) and the statement timeout (30 s: h2load sends no
  deadline);
* every round trip the service makes (its scope and its statement, one
  implicit transaction) runs between \\startpipeline and \\endpipeline; a
  read asks for one id, as a lone call's read does;
* UpdateCohort's compare-and-set needs the version its SELECT read, which
  pgbench can only capture (\\gset) outside a pipeline, so that read is sent
  as BEGIN, scope, SELECT, COMMIT, one round trip each: its ceiling is a
  little lower than the service's protocol would allow.

pgbench connects as cohorts_app, the service's role, so row-level security
costs the same as for the service.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \w+ \[(\d+)\] (\w+):  (.*)$")
_STATEMENT = re.compile(r"^(?:execute [^:]+|statement): (.*)$", re.DOTALL)
_PARAMETER = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")
_COHORT_ID = re.compile(r"'coh_[0-9A-Z]{26}'")
_COHORT_IDS = re.compile(r"'\{coh_[0-9A-Z]{26}\}'")
_VARIABLE = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_KNOWN_VARIABLES = {"n", "r", "p_version"}


@dataclass
class Statement:
    """One statement a call sent, with its parameters as SQL literals."""

    sql: str
    parameters: dict[int, str] = field(default_factory=dict)


def parse_log(text: str) -> list[Statement]:
    """The statements (with parameters) in a chunk of PostgreSQL's log_statement output."""
    entries: list[list[str]] = []  # [level, message]
    for line in text.splitlines():
        match = _PREFIX.match(line)
        if match:
            entries.append([match.group(2), match.group(3)])
        elif entries:
            entries[-1][1] += "\n" + line
    statements: list[Statement] = []
    for level, message in entries:
        if level == "LOG":
            match = _STATEMENT.match(message)
            if match:
                statements.append(Statement(match.group(1).strip()))
        elif level == "DETAIL" and message.startswith("Parameters: ") and statements:
            statements[-1].parameters = {
                int(n): value for n, value in _PARAMETER.findall(message[len("Parameters: ") :])
            }
    # The server's health check runs beside the calls.
    return [s for s in statements if s.sql != "SELECT 1"]


def _inline(statement: Statement, replace: dict[str, str]) -> str:
    """The statement with each $n replaced by its value (or by replace[value])."""

    def literal(match: re.Match[str]) -> str:
        value = statement.parameters[int(match.group(1))]
        return replace.get(value, value)

    return re.sub(r"\$(\d+)", literal, statement.sql)


def script(statements: list[Statement], *, kind: str, id_table: str | None, id_count: int) -> str:
    """A pgbench script doing what one captured call did (kind: read, create or update)."""
    if not statements:
        raise ValueError("no statements captured")
    replace: dict[str, str] = {}
    lines: list[str] = []
    if id_table is not None:
        lines.append(f"\\set n random(1, {id_count})")
    if kind == "create":
        lines.append("\\set r random(0, 9223372036854775806)")
    sqls: list[str] = []
    for statement in statements:
        timeout = re.search(r"set_config\('statement_timeout', \$(\d+)", statement.sql)
        if timeout:
            statement.parameters[int(timeout.group(1))] = "'30000'"
        for value in statement.parameters.values():
            if _COHORT_IDS.fullmatch(value) and id_table is not None:
                # The id list a coalesced read sends (one id per call here).
                replace[value] = f"ARRAY[(SELECT id FROM {id_table} WHERE n = :n)]"
            elif _COHORT_ID.fullmatch(value):
                if kind == "create":
                    replace[value] = "('coh_0' || lpad(upper(to_hex(:r::bigint)), 25, '0'))"
                elif id_table is not None:
                    replace[value] = f"(SELECT id FROM {id_table} WHERE n = :n)"
        sql = _inline(statement, replace)
        if kind == "update" and sql.startswith("UPDATE"):
            sql = re.sub(r"\bversion=[^,\s]+", "version=(:p_version::bigint + 1)", sql)
            sql = re.sub(r"(cohorts\.version = )[^\s]+", r"\1:p_version::BIGINT", sql)
        sqls.append(" ".join(sql.split()))
    # One group per round trip the service made: each starts at its scope
    # statement (with anything sent before the first, such as BEGIN).
    groups: list[list[str]] = []
    for sql in sqls:
        if "set_config('app.tenant_id'" in sql or not groups:
            groups.append([])
        groups[-1].append(sql)
    if len(groups) > 1 and not any("set_config('app.tenant_id'" in sql for sql in groups[0]):
        groups[1] = groups[0] + groups[1]
        del groups[0]
    for group in groups:
        if kind == "update" and any(sql.startswith("SELECT cohorts.") for sql in group):
            # The version the compare-and-set needs can only be captured
            # (\gset) outside a pipeline: the same implicit transaction is
            # spelt BEGIN ... COMMIT, one round trip per statement.
            lines.append("BEGIN;")
            for sql in group:
                lines.append(sql + " \\gset p_" if sql.startswith("SELECT cohorts.") else sql + ";")
            lines.append("COMMIT;")
        else:
            # Pipelined as the service sends them: one round trip, one implicit transaction.
            lines.append("\\startpipeline")
            lines += [sql + ";" for sql in group]
            lines.append("\\endpipeline")
    text = "\n".join(lines) + "\n"
    unknown = set(_VARIABLE.findall(text)) - _KNOWN_VARIABLES
    if unknown:
        raise ValueError(f"pgbench would read {sorted(unknown)} as variables in: {text}")
    return text


@dataclass
class PgbenchResult:
    """What pgbench reported."""

    tps: float
    transactions: int
    failed: int
    latency_ms: float
    cpu_seconds: float
    output: str


_TPS = re.compile(r"tps = ([\d.]+) \(without initial connection time\)")
_DONE = re.compile(r"number of transactions actually processed: (\d+)")
_FAILED = re.compile(r"number of failed transactions: (\d+)")
_LATENCY = re.compile(r"latency average = ([\d.]+) ms")


class Pgbench:
    """One pgbench run; start() then wait(), so CPU can be sampled around it."""

    def __init__(
        self,
        *,
        pgbench: str,
        scripts: list[tuple[Path, int]],
        host: str,
        database: str,
        user: str,
        clients: int,
        threads: int,
        duration: float,
        variables: dict[str, str],
    ) -> None:
        command = [
            pgbench,
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(threads),
            "-T",
            str(max(1, round(duration))),
            "-h",
            host,
            "-U",
            user,
        ]
        for name, value in variables.items():
            command += ["-D", f"{name}={value}"]
        for path, weight in scripts:
            command += ["-f", f"{path}@{weight}"]
        command.append(database)
        self.command = command
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=os.environ | {"PGAPPNAME": "bench-pgbench"},
        )

    def wait(self) -> PgbenchResult:
        assert self._process.stdout is not None
        output = self._process.stdout.read()
        _, status, usage = os.wait4(self._process.pid, 0)
        self._process.returncode = os.waitstatus_to_exitcode(status)
        tps, done = _TPS.search(output), _DONE.search(output)
        if self._process.returncode != 0 or tps is None or done is None:
            print(output, file=sys.stderr)
            raise RuntimeError(f"pgbench failed ({self._process.returncode}): {self.command}")
        failed, latency = _FAILED.search(output), _LATENCY.search(output)
        return PgbenchResult(
            tps=float(tps.group(1)),
            transactions=int(done.group(1)),
            failed=int(failed.group(1)) if failed else 0,
            latency_ms=float(latency.group(1)) if latency else float("nan"),
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            output=output,
        )
