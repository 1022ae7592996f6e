/**
 * `evtwebsocket/shared`: one connection shared by the tabs of an origin. Public exports only;
 * see `shared-conn.ts` for how it works.
 *
 * @module evtwebsocket/shared
 */

export {
  createSharedConn,
  type Role,
  SharedConn,
  type SharedConnEvents,
  type SharedConnOptions,
} from "./shared-conn.js";
