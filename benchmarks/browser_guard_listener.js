/* Issue 23: the browser guard's own work per navigation on a host without listed pages
 * (two checks, as Chromium's request and commit listeners make), two versions of
 * browser_guard/ side by side in interleaved rounds; prints the median ms per navigation.
 *
 *   node benchmarks/browser_guard_listener.js OLD_GUARD_DIR [NEW_GUARD_DIR]
 */
"use strict";
const path = require("node:path");
const dirs = [process.argv[2], process.argv[3] || path.join(__dirname, "..", "browser_guard")];
if (!process.argv[2]) {
  console.error("usage: node benchmarks/browser_guard_listener.js OLD_GUARD_DIR [NEW_GUARD_DIR]");
  process.exit(2);
}
const fetch = async (u) => ({
  ok: true,
  json: async () => (u.includes("/v1/hosts") ? { prefixes: ["deadbeef"], ttl: 300, active: true } : { category: null }),
});
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

(async () => {
  const guards = dirs.map((d) => new (require(path.resolve(d, "src", "guard.js")).Guard)({ api: "http://127.0.0.1:8054", fetch }));
  const times = guards.map(() => []);
  const N = 500;
  let k = 0;
  for (let round = 0; round < 40; round++) {
    const order = round % 2 ? [0, 1] : [1, 0];
    for (const i of order) {
      const t0 = process.hrtime.bigint();
      for (let j = 0; j < N; j++) {
        const url = `https://plain${j % 20}.test/gallery/${k++}/page.html?q=${j}`;
        await guards[i].check(url, "page");
        await guards[i].check(url, "page");
      }
      if (round >= 4) times[i].push(Number(process.hrtime.bigint() - t0) / 1e6 / N);
    }
  }
  dirs.forEach((d, i) => console.log(`${d}: median ${median(times[i]).toFixed(4)} ms per navigation`));
})();
