export * from "./client.js";
export * from "./common.js";
export * from "./gen/learning/v1/cohort_pb.js";
export * from "./gen/learning/v1/cohort_service_pb.js";
export * from "./gen/google/rpc/error_details_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";
