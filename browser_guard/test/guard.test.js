/* The guard's decisions with a fake agent (node --test): no question for an ordinary
 * host, one per suspect URL (even when asked twice at once), "dns" asked regardless of
 * the hint, and pages let through while the agent does not answer. */
"use strict";
const test = require("node:test");
const assert = require("node:assert");
const crypto = require("node:crypto");
const { Guard } = require("../src/guard.js");

const top4 = (s) => crypto.createHash("sha256").update(s).digest("hex").slice(0, 8);
const full8 = (s) => crypto.createHash("sha256").update(s).digest("hex").slice(0, 16);

function fakeAgent({ suspects = [], listed = {}, down = false } = {}) {
  const calls = [];
  async function fetch(url, init) {
    calls.push(url);
    assert.strictEqual(init.headers["X-Kiosk-Guard"], "1");
    if (down) throw new TypeError("connection refused");
    const u = new URL(url);
    let body;
    if (u.pathname === "/v1/hosts") {
      body = { prefix_bytes: 4, prefixes: suspects.map(top4), ttl: 300, active: true };
    } else {
      const ps = u.searchParams.get("p").split(",");
      const hit = Object.entries(listed).find(([expr]) => ps.includes(full8(expr)));
      body = { category: hit ? hit[1] : null };
    }
    return { ok: true, status: 200, json: async () => body };
  }
  return { fetch, calls };
}

test("an ordinary host costs no question after the hint", async () => {
  const agent = fakeAgent({ suspects: ["pages.test/"] });
  const g = new Guard({ api: "http://127.0.0.1:8054", fetch: agent.fetch });
  assert.strictEqual(await g.check("https://plain.test/a", "page"), null);
  assert.strictEqual(await g.check("https://plain.test/b?x", "resource"), null);
  assert.deepStrictEqual(agent.calls, ["http://127.0.0.1:8054/v1/hosts"]);
  assert.strictEqual(g.stats.skipped, 2);
});

test("a listed page on a suspect host is blocked, asked once even when asked twice at once", async () => {
  const agent = fakeAgent({ suspects: ["pages.test/"], listed: { "pages.test/listed/page.html": "csam" } });
  const g = new Guard({ api: "http://127.0.0.1:8054/", fetch: agent.fetch });
  const url = "https://WWW.pages.test:8443/listed/./page.html#frag";
  const [a, b] = await Promise.all([g.check(url, "page"), g.check(url, "page")]);
  assert.strictEqual(a, "csam");
  assert.strictEqual(b, "csam");
  assert.strictEqual(await g.check(url, "resource"), "csam"); // remembered
  const checks = agent.calls.filter((c) => c.includes("/v1/check"));
  assert.strictEqual(checks.length, 1);
  assert.ok(!checks[0].includes("pages"), "only hash prefixes leave the extension");
  assert.strictEqual(await g.check("https://pages.test/listed/other.html", "page"), null);
  assert.strictEqual(g.blockPage, "http://127.0.0.1:8054/blocked");
});

test("a name the resolver refused is asked about whatever the hint says", async () => {
  const agent = fakeAgent({ listed: { "dns-blocked.test/": "csam" } });
  const g = new Guard({ api: "http://127.0.0.1:8054", fetch: agent.fetch });
  assert.strictEqual(await g.check("https://dns-blocked.test/x", "page"), null); // not suspect
  assert.strictEqual(await g.check("https://dns-blocked.test/x", "dns"), "csam");
  assert.ok(agent.calls.some((c) => c.includes("kind=dns")));
});

test("the guard leaves its own API, the block page and non-web URLs alone", async () => {
  const agent = fakeAgent({ suspects: ["127.0.0.1/"] });
  const g = new Guard({ api: "http://127.0.0.1:8054", fetch: agent.fetch });
  for (const url of ["http://127.0.0.1:8054/blocked", "chrome://settings", "about:blank", "data:text/html,x"]) {
    assert.strictEqual(await g.check(url, "page"), null);
  }
  assert.deepStrictEqual(agent.calls, []);
});

test("while the agent does not answer, pages go through and the hint is retried later", async () => {
  let now = 0;
  const agent = fakeAgent({ down: true });
  const g = new Guard({ api: "http://127.0.0.1:8054", fetch: agent.fetch, now: () => now });
  assert.strictEqual(await g.check("https://pages.test/listed/page.html", "page"), null);
  assert.strictEqual(await g.check("https://pages.test/other", "page"), null);
  assert.strictEqual(agent.calls.length, 1);
  now += 11000;
  await g.check("https://pages.test/other", "page");
  assert.strictEqual(agent.calls.length, 2);
  assert.strictEqual(g.stats.errors, 2);
});

test("a new API address from policy forgets the old answers", async () => {
  const agent = fakeAgent({ suspects: ["pages.test/"] });
  const g = new Guard({ api: "http://127.0.0.1:8054", fetch: agent.fetch });
  await g.check("https://pages.test/a", "page");
  g.setApi("http://127.0.0.1:9999");
  assert.strictEqual(g.hint, null);
  await g.check("https://pages.test/a", "page");
  assert.ok(agent.calls.at(-1).startsWith("http://127.0.0.1:9999/v1/check"));
});

test("a host's verdict is remembered per authority until the hint changes", async () => {
  const urls = require("../src/urls.js");
  const agent = fakeAgent({ suspects: ["pages.test/"], listed: { "pages.test/listed/page.html": "csam" } });
  const g = new Guard({ api: "http://127.0.0.1:8054", fetch: agent.fetch });
  const fresh = () => new Guard({ api: "http://127.0.0.1:8054", fetch: fakeAgent({ suspects: ["pages.test/"] }).fetch });
  const original = urls.hashPrefixes;
  let hashed = 0;
  urls.hashPrefixes = async (exprs, bytes) => {
    hashed++;
    return original(exprs, bytes);
  };
  try {
    await g.check("https://plain.test/a", "page");
    const before = hashed;
    for (let i = 0; i < 5; i++) await g.check(`https://plain.test/p/${i}?q=${i}`, "page");
    assert.strictEqual(hashed, before, "an ordinary host's later pages hash nothing");
    // tricky authorities: the remembered answer is the one a fresh guard computes
    const tricky = [
      "https://www.pages.test/x", "https://WWW.PAGES.TEST./y", "https://user@pages.test:8443/z",
      "https://pages.test?q", "https://pages.test#f", "https://pages%2Etest/x", "https://a.b.pages.test/",
      "https://pages.test.evil.test/", "https://1.2.3.4/", "https://0x7f.1/", "http://pages.test\\@plain.test/",
    ];
    for (const url of [...tricky, ...tricky]) {
      const f = fresh();
      await f.ensureHint();
      const expected = await f.suspect(url).catch(() => "error");
      assert.strictEqual(await g.suspect(url).catch(() => "error"), expected, url);
    }
  } finally {
    urls.hashPrefixes = original;
  }
  // a new hint (after its ttl) forgets what the old one said
  assert.ok(g.hosts.size > 0);
  g.hintUntil = 0;
  await g.ensureHint();
  assert.strictEqual(g.hosts.size, 0);
});
