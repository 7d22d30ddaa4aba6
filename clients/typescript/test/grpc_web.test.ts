/**
 * The web client (gRPC-Web through the gateway) against a running CohortService, from Node.
 *
 * Starts nothing itself: tests/e2e/test_typescript_client.py runs it against the gateway
 * the Python test session starts. Environment:
 *   COHORTS_WEB_TARGET  the gateway's base URL, e.g. http://127.0.0.1:8080 (required)
 *   COHORTS_TOKEN       bearer token for a tenant with no cohorts yet (required)
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { create, equals } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";

import {
  Code,
  CohortSchema,
  ConnectError,
  ERROR_DOMAIN,
  createCohortsWebClient,
  errorInfo,
  fieldViolations,
  type Cohort,
} from "../src/web.js";

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: this test runs against a gateway started elsewhere`);
  }
  return value;
}

const client = createCohortsWebClient({
  baseUrl: required("COHORTS_WEB_TARGET"),
  token: required("COHORTS_TOKEN"),
  defaultTimeoutMs: 5_000,
});

async function rejection(call: () => Promise<unknown>): Promise<ConnectError> {
  try {
    await call();
  } catch (error) {
    return ConnectError.from(error);
  }
  assert.fail("the call succeeded but was expected to fail");
}

describe("CohortService through @connectrpc/connect-web (gRPC-Web via Envoy)", () => {
  let created: Cohort;

  test("creates a cohort and reads it back", async () => {
    created = await client.createCohort({
      cohort: { name: "Over gRPC-Web", tags: ["web"], sessionCount: 4 },
      requestId: crypto.randomUUID(),
    });
    assert.equal(created.name, "Over gRPC-Web");
    assert.equal(created.version, 1n);
    const got = await client.getCohort({ id: created.id });
    assert.ok(equals(CohortSchema, got, created), "GetCohort differs from CreateCohort's result");
  });

  test("updates through a field mask", async () => {
    const updated = await client.updateCohort({
      cohort: { id: created.id, name: "Renamed over gRPC-Web", version: created.version },
      updateMask: create(FieldMaskSchema, { paths: ["name"] }),
    });
    assert.equal(updated.name, "Renamed over gRPC-Web");
    assert.deepEqual(updated.tags, ["web"]);
    assert.equal(updated.version, 2n);
  });

  test("lists the cohort", async () => {
    const page = await client.listCohorts({});
    assert.deepEqual(
      page.cohorts.map((cohort) => cohort.id),
      [created.id],
    );
  });

  test("errors keep their code and rich details", async () => {
    const missing = await rejection(() =>
      client.getCohort({ id: "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R" }),
    );
    assert.equal(missing.code, Code.NotFound);
    assert.equal(errorInfo(missing)?.reason, "COHORT_NOT_FOUND");
    assert.equal(errorInfo(missing)?.domain, ERROR_DOMAIN);

    const invalid = await rejection(() => client.createCohort({ cohort: { name: " " } }));
    assert.equal(invalid.code, Code.InvalidArgument);
    assert.deepEqual(
      fieldViolations(invalid).map((violation) => violation.field),
      ["cohort.name"],
    );
  });
});
