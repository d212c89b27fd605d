/*
 * The guard's decisions, without browser APIs (Node tests run them as they are):
 * whether a URL needs the agent's opinion, and asking for it.
 *
 * Only hash prefixes leave this code: 4-byte prefixes of host expressions are compared
 * with the agent's suspect-host hint locally, and 8-byte prefixes of a suspect URL's
 * expressions are sent to the agent's loopback API, which answers with a category.
 */
(function (root) {
  "use strict";

  const urls = root.KioskUrls || (typeof require === "function" ? require("./urls.js") : null);
  const CACHE_MAX = 1000;
  const VERDICT_TTL_MS = 60 * 1000; // a URL is asked about (and counted) once a minute
  const RETRY_HINT_MS = 10 * 1000; // after the agent did not answer
  // scheme://authority: the part of a URL its host expressions come from
  const AUTHORITY = /^[a-z][a-z0-9+.-]*:\/\/([^/?#\\]*)(?=[/?#]|$)/i;

  class Guard {
    /**
     * @param {object} o
     * @param {string} o.api  base URL of the agent's guard API (http://127.0.0.1:8054)
     * @param {Function} [o.fetch]  fetch, for tests
     * @param {Function} [o.now]  milliseconds clock, for tests
     */
    constructor({ api, fetch, now }) {
      this.api = api.replace(/\/+$/, "");
      this.fetch = fetch || root.fetch.bind(root);
      this.now = now || (() => Date.now());
      this.hint = null; // Set of 4-byte hex prefixes of suspect hosts
      this.active = false;
      this.hintUntil = 0;
      this.hintLoading = null;
      this.verdicts = new Map(); // canonical URL -> {category, until}
      this.hosts = new Map(); // URL authority -> suspect? (for the hint in force)
      this.asking = new Map(); // canonical URL -> the answer on its way
      this.stats = { checked: 0, skipped: 0, asked: 0, blocked: 0, errors: 0 };
    }

    /** Another API address (from policy): forget what the old one said. */
    setApi(api) {
      const base = api.replace(/\/+$/, "");
      if (base === this.api) return;
      this.api = base;
      this.hint = null;
      this.verdicts.clear();
    }

    get blockPage() {
      return this.api + "/blocked";
    }

    /** True for URLs the guard must leave alone: its own API and block page, non-web. */
    ignores(url) {
      return !/^https?:/i.test(url) || url.startsWith(this.api + "/");
    }

    async get(path) {
      const response = await this.fetch(this.api + path, {
        headers: { "X-Kiosk-Guard": "1" },
        cache: "no-store",
        credentials: "omit",
      });
      if (!response.ok) throw new Error("guard API answered " + response.status);
      return response.json();
    }

    /** The suspect-host hint, fetched again when its time is up (one request at a time). */
    async ensureHint() {
      if (this.hint !== null && this.now() < this.hintUntil) return;
      if (!this.hintLoading) {
        this.hintLoading = this.get("/v1/hosts")
          .then((body) => {
            this.hint = new Set(body.prefixes);
            this.hosts.clear();
            this.active = Boolean(body.active);
            this.hintUntil = this.now() + 1000 * body.ttl;
          })
          .catch(() => {
            // The agent is not answering: let pages through (the DNS filter still
            // applies) and try again soon rather than on every navigation.
            this.stats.errors++;
            this.hint = new Set();
            this.hosts.clear();
            this.active = false;
            this.hintUntil = this.now() + RETRY_HINT_MS;
          })
          .finally(() => {
            this.hintLoading = null;
          });
      }
      await this.hintLoading;
    }

    /**
     * Whether url's host (or a parent domain) carries listed pages, per the hint.
     * Remembered per authority (the host expressions depend on nothing else) until the
     * hint changes: ordinary browsing then costs no hashing at all, not even WebCrypto's
     * asynchronous round trip, after a host's first page.
     */
    async suspect(url) {
      const authority = AUTHORITY.exec(url);
      const key = authority ? authority[1].toLowerCase() : null;
      if (key !== null && this.hosts.has(key)) return this.hosts.get(key);
      const hint = this.hint;
      const hosts = urls.hostExpressions(url);
      const tops = await urls.hashPrefixes(hosts, 4);
      const suspect = tops.some((t) => hint.has(t));
      if (key !== null && hint === this.hint) {
        if (this.hosts.size >= CACHE_MAX) this.hosts.delete(this.hosts.keys().next().value);
        this.hosts.set(key, suspect);
      }
      return suspect;
    }

    remember(key, category) {
      if (this.verdicts.size >= CACHE_MAX) this.verdicts.delete(this.verdicts.keys().next().value);
      this.verdicts.set(key, { category, until: this.now() + VERDICT_TTL_MS });
    }

    /**
     * The category that blocks url, or null. kind: "page" (a frame), "resource"
     * (anything else the page loads) or "dns" (the name did not resolve: asked whatever
     * the hint says, since whole-host entries are not in it).
     */
    async check(url, kind) {
      if (this.ignores(url)) return null;
      this.stats.checked++;
      await this.ensureHint();
      if (!this.active) return null;
      let canonical;
      try {
        // the common case first: a host without listed pages, decided from the cache
        if (kind !== "dns" && !(await this.suspect(url))) {
          this.stats.skipped++;
          return null;
        }
        canonical = urls.canonicalize(url);
      } catch (e) {
        return null; // no host: nothing a list can name
      }
      // "resource" and "page" answers are the same; "dns" is asked and counted apart
      const key = (kind === "dns" ? "dns " : "url ") + canonical;
      const known = this.verdicts.get(key);
      if (known && this.now() < known.until) return known.category;
      // One question per URL at a time: webRequest and webNavigation may both ask about
      // a page while the first answer is on its way, and a hit is counted per answer.
      const pending = this.asking.get(key);
      if (pending) return pending;
      const asking = this.ask(url, kind, key);
      this.asking.set(key, asking);
      try {
        return await asking;
      } finally {
        this.asking.delete(key);
      }
    }

    async ask(url, kind, key) {
      const prefixes = await urls.hashPrefixes(urls.expressions(url), 8);
      this.stats.asked++;
      let category = null;
      try {
        const body = await this.get("/v1/check?kind=" + kind + "&p=" + prefixes.join(","));
        category = body.category || null;
      } catch (e) {
        this.stats.errors++;
        return null;
      }
      this.remember(key, category);
      if (category) this.stats.blocked++;
      return category;
    }
  }

  const api = { Guard };
  root.KioskGuard = api;
  if (typeof module === "object" && module.exports) module.exports = api;
})(typeof globalThis !== "undefined" ? globalThis : self);
