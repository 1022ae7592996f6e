/**
 * React 18 for the tests of `evtwebsocket/react`: the repository's dev dependencies hold React
 * 19, and React 18 lives in the workspace test/fixtures/react-18 (its own `react` and
 * `react-dom`, which npm cannot hoist beside 19). This esbuild `alias` builds a page or script
 * with React 18 in place of 19, for every import of `react` and `react-dom` (their subpaths,
 * and the imports inside react-dom itself, included).
 */
export const REACT_18 = {
  react: "evtwebsocket-fixture-react-18/node_modules/react",
  "react-dom": "evtwebsocket-fixture-react-18/node_modules/react-dom",
};
