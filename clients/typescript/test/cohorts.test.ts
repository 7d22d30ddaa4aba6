/**
 * End-to-end test of the TypeScript client against a running CohortService.
 *
 * Starts nothing itself: tests/e2e/test_typescript_client.py runs it against the
 * server the Python test session starts. Environment:
 *   COHORTS_TARGET       base URL, e.g. http://127.0.0.1:50051 (required)
 *   COHORTS_TOKEN        bearer token for a tenant with no cohorts yet (required)
 *   COHORTS_TENANT       that token's tenant_id claim (optional; checked on create)
 *   COHORTS_SUB          that token's sub claim (optional; checked on create/update)
 *   COHORTS_OTHER_TOKEN  bearer token for another tenant (optional; isolation check)
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { create, equals } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";

import {
  BadRequestSchema,
  CohortSchema,
  CohortStatus,
  ERROR_DOMAIN,
  ErrorInfoSchema,
  SourceType,
  createCohortsClient,
  errorInfo,
  fieldViolations,
  type Cohort,
  type CohortsConnection,
} from "../src/index.js";

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: this test runs against a server started elsewhere`);
  }
  return value;
}

const target = required("COHORTS_TARGET");
const token = required("COHORTS_TOKEN");
const tenant = process.env.COHORTS_TENANT;
const sub = process.env.COHORTS_SUB;
const otherToken = process.env.COHORTS_OTHER_TOKEN;

const COHORT_ID = /^coh_[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

/** Runs call, which must fail; returns the error as a ConnectError. */
async function rejection(call: () => Promise<unknown>): Promise<ConnectError> {
  try {
    await call();
  } catch (error) {
    assert.ok(error instanceof ConnectError, `expected a ConnectError, got ${String(error)}`);
    return error;
  }
  assert.fail("the call succeeded but was expected to fail");
}

function millis(cohort: Cohort): bigint {
  const at = cohort.createdAt;
  assert.ok(at, `cohort ${cohort.id} has no created_at`);
  return at.seconds * 1000n + BigInt(Math.floor(at.nanos / 1_000_000));
}

describe("CohortService through @connectrpc/connect-node (gRPC over HTTP/2)", () => {
  let connection: CohortsConnection;
  let created: Cohort;
  let updated: Cohort;

  before(() => {
    connection = createCohortsClient({ baseUrl: target, token, defaultTimeoutMs: 5_000 });
  });

  after(() => connection.close());

  test("creates a cohort and gets every server field back", async () => {
    created = await connection.client.createCohort({
      cohort: {
        name: "  Spring 2027  ",
        programId: "prog-ts",
        tags: ["typescript", "e2e"],
        sessionCount: 3,
        completionRequiredPct: 80,
        metadata: { cohortSize: 12, nested: { ok: true } },
        // Output-only: ignored by the server.
        id: "coh_ignored",
        version: 42n,
      },
      requestId: crypto.randomUUID(),
    });
    assert.match(created.id, COHORT_ID);
    assert.equal(created.name, "Spring 2027", "name is trimmed");
    assert.equal(created.programId, "prog-ts");
    assert.deepEqual(created.tags, ["typescript", "e2e"]);
    assert.equal(created.sessionCount, 3);
    assert.equal(created.completionRequiredPct, 80);
    assert.equal(created.currentCompletionPct, undefined, "unset optional stays unset");
    assert.deepEqual(created.metadata, { cohortSize: 12, nested: { ok: true } });
    assert.equal(created.version, 1n);
    assert.equal(created.status, CohortStatus.DRAFT, "UNSPECIFIED status defaults to DRAFT");
    assert.equal(created.sourceType, SourceType.API, "UNSPECIFIED source_type defaults to API");
    assert.equal(created.source, "edm", "empty source defaults to edm");
    assert.equal(created.isDeleted, false);
    assert.ok(created.createdAt && created.updatedAt, "timestamps are set");
    if (tenant) assert.equal(created.tenantId, tenant);
    if (sub) assert.equal(created.createdBy, sub);
  });

  test("gets the cohort exactly as created", async () => {
    const got = await connection.client.getCohort({ id: created.id });
    assert.ok(equals(CohortSchema, got, created), "GetCohort differs from CreateCohort's result");
  });

  test("updates only the fields named in the mask", async () => {
    updated = await connection.client.updateCohort({
      cohort: {
        id: created.id,
        name: "Spring 2027 (B)",
        tags: ["renamed"],
        // sessionCount left unset and named in the mask: cleared.
        programId: "not-in-the-mask", // not named in the mask: ignored
        version: created.version,
      },
      updateMask: create(FieldMaskSchema, { paths: ["name", "tags", "session_count"] }),
    });
    assert.equal(updated.id, created.id);
    assert.equal(updated.name, "Spring 2027 (B)");
    assert.deepEqual(updated.tags, ["renamed"]);
    assert.equal(updated.sessionCount, undefined, "session_count was cleared");
    assert.equal(updated.programId, "prog-ts", "program_id was outside the mask");
    assert.equal(updated.completionRequiredPct, 80);
    assert.equal(updated.version, created.version + 1n);
    if (sub) assert.equal(updated.updatedBy, sub);
    const got = await connection.client.getCohort({ id: created.id });
    assert.ok(equals(CohortSchema, got, updated), "GetCohort differs from UpdateCohort's result");
  });

  test("a stale version is ABORTED with the current version in ErrorInfo", async () => {
    const error = await rejection(() =>
      connection.client.updateCohort({
        cohort: { id: created.id, name: "lost update", version: created.version },
        updateMask: create(FieldMaskSchema, { paths: ["name"] }),
      }),
    );
    assert.equal(error.code, Code.Aborted, error.message);
    const [info, ...more] = error.findDetails(ErrorInfoSchema);
    assert.ok(info, "no google.rpc.ErrorInfo in the error details");
    assert.equal(more.length, 0);
    assert.equal(info.domain, ERROR_DOMAIN);
    assert.equal(info.reason, "VERSION_MISMATCH");
    assert.equal(info.metadata["current_version"], String(updated.version));
    assert.equal(errorInfo(error)?.metadata["current_version"], String(updated.version));
    const got = await connection.client.getCohort({ id: created.id });
    assert.equal(got.name, updated.name, "the rejected update wrote nothing");
  });

  test("invalid fields are INVALID_ARGUMENT with one BadRequest violation each", async () => {
    const error = await rejection(() =>
      connection.client.createCohort({
        cohort: { name: "   ", sessionCount: -1, groupId: "not-a-group", completionRequiredPct: 101 },
      }),
    );
    assert.equal(error.code, Code.InvalidArgument, error.message);
    const badRequests = error.findDetails(BadRequestSchema);
    assert.equal(badRequests.length, 1, "exactly one google.rpc.BadRequest detail");
    const fields = badRequests[0]!.fieldViolations.map((v) => v.field).sort();
    assert.deepEqual(fields, [
      "cohort.completion_required_pct",
      "cohort.group_id",
      "cohort.name",
      "cohort.session_count",
    ]);
    for (const violation of badRequests[0]!.fieldViolations) {
      assert.ok(violation.description, `violation of ${violation.field} has no description`);
    }
    assert.deepEqual(fieldViolations(error).map((v) => v.field).sort(), fields);
    const info = error.findDetails(ErrorInfoSchema)[0];
    assert.equal(info?.domain, ERROR_DOMAIN);
    assert.equal(info?.reason, "INVALID_ARGUMENT");
  });

  test("lists every cohort in pages of at most 2, newest first, following next_page_token", async () => {
    const more: Cohort[] = [];
    for (const name of ["Summer 2027", "Autumn 2027", "Winter 2027", "Spring 2028"]) {
      more.push(await connection.client.createCohort({ cohort: { name } }));
    }
    const expected = new Set([created.id, ...more.map((c) => c.id)]);

    const seen: Cohort[] = [];
    const pageSizes: number[] = [];
    let pageToken = "";
    do {
      assert.ok(pageSizes.length < 20, "paging did not end after 20 pages");
      const page = await connection.client.listCohorts({ pageSize: 2, pageToken });
      assert.ok(page.cohorts.length <= 2, `a page held ${page.cohorts.length} cohorts`);
      pageSizes.push(page.cohorts.length);
      seen.push(...page.cohorts);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");

    const ids = seen.map((c) => c.id);
    assert.equal(new Set(ids).size, ids.length, `a cohort appeared twice: ${ids.join(", ")}`);
    assert.deepEqual(new Set(ids), expected, "the pages hold exactly this tenant's cohorts");
    assert.ok(pageSizes.length >= 3, `5 cohorts in pages of 2 came in ${pageSizes.length} pages`);
    for (let i = 1; i < seen.length; i++) {
      const [newer, older] = [seen[i - 1]!, seen[i]!];
      const order = millis(newer) > millis(older) || (millis(newer) === millis(older) && newer.id > older.id);
      assert.ok(order, `${newer.id} listed before ${older.id} but is not newer`);
    }
    const listed = seen.find((c) => c.id === created.id);
    assert.ok(listed && equals(CohortSchema, listed, updated), "listed cohort differs from GetCohort");
  });

  test("another tenant's token cannot see the cohort", { skip: !otherToken && "COHORTS_OTHER_TOKEN not set" }, async () => {
    const other = createCohortsClient({ baseUrl: target, token: otherToken!, defaultTimeoutMs: 5_000 });
    try {
      const error = await rejection(() => other.client.getCohort({ id: created.id }));
      assert.equal(error.code, Code.NotFound, error.message);
      const page = await other.client.listCohorts({ pageSize: 100 });
      assert.ok(!page.cohorts.some((c) => c.id === created.id), "cohort visible to another tenant");
    } finally {
      other.close();
    }
  });

  test("a bad token is UNAUTHENTICATED", async () => {
    const anonymous = createCohortsClient({ baseUrl: target, token: "not-a-jwt", defaultTimeoutMs: 5_000 });
    try {
      const error = await rejection(() => anonymous.client.getCohort({ id: created.id }));
      assert.equal(error.code, Code.Unauthenticated, error.message);
    } finally {
      anonymous.close();
    }
  });
});
