/**
 * What every transport of the client shares: the bearer token and the server's error details.
 */
import { ConnectError, type Client, type Interceptor } from "@connectrpc/connect";

import {
  BadRequestSchema,
  ErrorInfoSchema,
  type BadRequest_FieldViolation,
  type ErrorInfo,
} from "./gen/google/rpc/error_details_pb.js";
import type { CohortService } from "./gen/learning/v1/cohort_service_pb.js";

/** ErrorInfo.domain of every error the service reports. */
export const ERROR_DOMAIN = "cohorts.learning.v1";

/** A bearer token, or a function returning the current one (called per request). */
export type TokenSource = string | (() => string | Promise<string>);

export type CohortsClient = Client<typeof CohortService>;

/** Interceptor adding `authorization: Bearer <token>` to every request. */
export function bearerAuth(token: TokenSource): Interceptor {
  return (next) => async (request) => {
    const value = typeof token === "function" ? await token() : token;
    request.header.set("authorization", `Bearer ${value}`);
    return next(request);
  };
}

/** The error's google.rpc.ErrorInfo, if it carries one. */
export function errorInfo(error: unknown): ErrorInfo | undefined {
  return ConnectError.from(error).findDetails(ErrorInfoSchema)[0];
}

/** Every google.rpc.BadRequest field violation the error carries. */
export function fieldViolations(error: unknown): BadRequest_FieldViolation[] {
  return ConnectError.from(error)
    .findDetails(BadRequestSchema)
    .flatMap((detail) => detail.fieldViolations);
}
