/*
 * The extension's background: watches requests and navigations, asks the guard, and
 * sends a tab to the agent's block page. One file for Chromium (a service worker) and
 * Firefox (an event page, which loads the other scripts itself, see manifest.json).
 */
"use strict";

if (typeof importScripts === "function" && typeof KioskGuard === "undefined") {
  importScripts("config.js", "urls.js", "guard.js");
}

const ext = typeof browser !== "undefined" ? browser : chrome;
// Firefox honours a promise from a blocking webRequest listener; Chromium cannot wait
// for an asynchronous answer (WebCrypto is asynchronous), so there the tab is sent to
// the block page as soon as the answer arrives (docs/browser-guard.md, "Limits").
const FIREFOX = typeof browser !== "undefined" && typeof browser.runtime.getBrowserInfo === "function";
const FRAME_TYPES = new Set(["main_frame", "sub_frame"]);
const DNS_ERRORS = /NAME_NOT_RESOLVED|UNKNOWN_HOST/;

const API_PATTERN = /^http:\/\/(127\.[0-9.]+|\[::1\]):[0-9]+$/;
const theGuard = new KioskGuard.Guard({ api: self.KIOSK_GUARD_DEFAULT_API });

// A policy may name another address (managed storage "api"). Reading it can take
// seconds after a browser start, so the guard starts with the default and a navigation
// waits for the policy at most briefly.
const managedApi = (async () => {
  try {
    const managed = await ext.storage.managed.get("api");
    if (managed && typeof managed.api === "string" && API_PATTERN.test(managed.api)) {
      theGuard.setApi(managed.api);
    }
  } catch (e) {
    // no policy storage (not installed by policy): the default stays
  }
})();
let policyRead = false;
managedApi.then(() => {
  policyRead = true;
});

async function guard() {
  if (!policyRead) await Promise.race([managedApi, new Promise((r) => setTimeout(r, 100))]);
  return theGuard;
}

function showBlockPage(g, tabId) {
  if (tabId < 0) return; // not a tab's request (a worker's, the browser's own)
  ext.tabs.update(tabId, { url: g.blockPage }).catch(() => {});
}

async function onRequest(details) {
  const g = await guard();
  const kind = FRAME_TYPES.has(details.type) ? "page" : "resource";
  const category = await g.check(details.url, kind);
  if (!category) return {};
  // Firefox holds the request for this answer: a frame gets the block page in place of
  // the listed page. Anything else (a listed image or script, or any request in
  // Chromium, which does not wait) sends the whole tab to the block page.
  if (FIREFOX && FRAME_TYPES.has(details.type)) return { redirectUrl: g.blockPage };
  showBlockPage(g, details.tabId);
  return { cancel: true };
}

const FILTER = { urls: ["http://*/*", "https://*/*"] };
if (FIREFOX) {
  ext.webRequest.onBeforeRequest.addListener(onRequest, FILTER, ["blocking"]);
} else {
  // Chromium: a blocking listener must answer synchronously (and needs a policy
  // install in Manifest V3), so the guard watches and redirects the tab instead.
  ext.webRequest.onBeforeRequest.addListener((d) => {
    onRequest(d);
  }, FILTER);
}

// A second look at every committed frame: a page shown from the back-forward cache or
// the HTTP cache, or a request made while the service worker was starting (the browser
// does not hold such events for a worker it has not seen register yet), never reached
// onBeforeRequest. The verdict cache keeps this from asking twice.
ext.webNavigation.onCommitted.addListener(async (details) => {
  const g = await guard();
  if (await g.check(details.url, "page")) showBlockPage(g, details.tabId);
});

// The resolver answered NXDOMAIN for a blocked name: words instead of an error page.
ext.webNavigation.onErrorOccurred.addListener(async (details) => {
  if (details.frameId !== 0 || !DNS_ERRORS.test(details.error || "")) return;
  const g = await guard();
  if (await g.check(details.url, "dns")) showBlockPage(g, details.tabId);
});

// For tests and the benchmark: the guard's own counters (never a URL).
ext.runtime.onMessage.addListener((message, sender, reply) => {
  if (message === "kiosk-guard-stats") {
    guard().then((g) => reply(g.stats));
    return true;
  }
  return false;
});
