/**
 * evtwebsocket/testing: the real server and the fault proxy our own reliability suite uses,
 * published so applications can test their reconnect, heartbeat and request logic the same
 * way. Node only (it opens TCP listeners). Public exports only; no logic lives here.
 *
 * @module evtwebsocket/testing
 */

export {
  createFaultProxy,
  type FaultDirection,
  type FaultProxy,
  type FaultProxyOptions,
  type FaultScope,
} from "./fault-proxy.js";
export {
  createTestServer,
  type HandshakeInfo,
  type TestServer,
  type TestServerOptions,
} from "./test-server.js";
export { type Truthy, type WaitForOptions, WaitForTimeoutError, waitFor } from "./wait-for.js";
