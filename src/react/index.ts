/**
 * `evtwebsocket/react`: the React hooks. Public exports only; see `use-conn.ts`.
 *
 * @module evtwebsocket/react
 */

export { type UseConnOptions, type UseConnResult, useConn, useConnEvent } from "./use-conn.js";
