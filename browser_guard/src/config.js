/* Where the agent's guard API listens (kiosk_agent/filter/guard.py DEFAULT_HOST/PORT).
 * A policy can override it: managed storage key "api" (docs/browser-guard.md). */
(function (root) {
  "use strict";
  root.KIOSK_GUARD_DEFAULT_API = "http://127.0.0.1:8054";
})(typeof globalThis !== "undefined" ? globalThis : self);
