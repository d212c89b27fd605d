/*
 * Reads JSON lines {"b64": "..."} (a URL's bytes) from stdin and writes one JSON line per
 * input: {"canonical", "expressions", "hosts", "prefixes"} or {"invalid": true}.
 * tests/browser_guard/test_urls_js.py runs it and compares with kiosk_agent.filter.urls.
 */
"use strict";
const readline = require("node:readline");
const urls = require("../src/urls.js");

async function one(line) {
  const input = JSON.parse(line);
  const bytes = Buffer.from(input.b64, "base64");
  const url = input.text === undefined ? new Uint8Array(bytes) : input.text;
  try {
    const canonical = urls.canonicalize(url);
    const expressions = urls.expressions(url);
    const hosts = urls.hostExpressions(url);
    const out = { canonical, expressions, hosts };
    if (input.hash) out.prefixes = await urls.hashPrefixes(expressions, 8);
    return out;
  } catch (e) {
    if (e instanceof urls.InvalidURL) return { invalid: true };
    return { error: String(e) };
  }
}

async function main() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  const out = [];
  for await (const line of rl) {
    if (line.trim()) out.push(JSON.stringify(await one(line)));
  }
  process.stdout.write(out.join("\n") + "\n");
}

main();
