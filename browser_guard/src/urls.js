/*
 * URL canonicalization and lookup expressions, after Google Safe Browsing's published
 * rules: a line-by-line port of kiosk_agent/filter/urls.py (the Python module is the
 * authority; tests/browser_guard compares the two on the published vectors and on
 * thousands of generated URLs).
 *
 * Work happens on "byte strings": JS strings whose every char code is one byte (0-255),
 * so that percent-unescaping may produce bytes that are not UTF-8 and those survive
 * (re-escaped), exactly as the Python code does on bytes.
 */
(function (root) {
  "use strict";

  // Page expressions (host/path) use Safe Browsing's host set: the exact host plus the
  // suffixes from the last five labels. A host/ entry covers every name beneath it at
  // any depth, so host expressions take every parent domain (as kiosk_agent.filter.urls).
  const MAX_HOST_SUFFIXES = 5; // Safe Browsing's bound, for page expressions only
  const MAX_PATH_PREFIXES = 6; // exact path with query, without query, up to four prefixes

  class InvalidURL extends Error {}

  const utf8 = new TextEncoder();

  /** UTF-8 bytes of a JS string (lone surrogates become U+FFFD) as a byte string. */
  function toByteString(text) {
    const bytes = utf8.encode(text);
    let out = "";
    for (let i = 0; i < bytes.length; i += 8192) {
      out += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
    }
    return out;
  }

  function bytesOf(input) {
    if (typeof input === "string") return toByteString(input);
    if (input instanceof Uint8Array) {
      let out = "";
      for (let i = 0; i < input.length; i += 8192) {
        out += String.fromCharCode.apply(null, input.subarray(i, i + 8192));
      }
      return out;
    }
    throw new TypeError("a URL is a string or a Uint8Array");
  }

  const PERCENT = /%([0-9A-Fa-f]{2})/g;

  function unescapeOnce(data) {
    return data.replace(PERCENT, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
  }

  /** Percent-unescape until nothing changes (%252525 -> %). */
  function unescapeFully(data) {
    while (data.indexOf("%") >= 0) {
      const once = unescapeOnce(data);
      if (once === data) break;
      data = once;
    }
    return data;
  }

  // Bytes Safe Browsing re-escapes: controls and space, DEL and above, '#' and '%'.
  const ESCAPE_TABLE = [];
  for (let b = 0; b < 256; b++) {
    const escape = b <= 0x20 || b >= 0x7f || b === 0x23 || b === 0x25;
    ESCAPE_TABLE.push(escape ? "%" + b.toString(16).toUpperCase().padStart(2, "0") : String.fromCharCode(b));
  }

  function escapeBytes(data) {
    let out = "";
    for (let i = 0; i < data.length; i++) out += ESCAPE_TABLE[data.charCodeAt(i)];
    return out;
  }

  // Python's int(bytes, base) as _parse_ipv4_part uses it: ASCII whitespace around, an
  // optional sign, the base's own prefix (0x / 0o), single underscores between digits.
  const PY_SPACE = /^[ \t\n\r\x0b\x0c]+|[ \t\n\r\x0b\x0c]+$/g;

  function pyInt(text, base) {
    let s = text.replace(PY_SPACE, "");
    let negative = false;
    if (s[0] === "+" || s[0] === "-") {
      negative = s[0] === "-";
      s = s.slice(1);
    }
    const prefix = base === 16 ? /^0[xX]/ : /^0[oO]/;
    let prefixed = false;
    if (prefix.test(s)) {
      s = s.slice(2);
      prefixed = true;
    }
    const digit = base === 16 ? "[0-9A-Fa-f]" : "[0-7]";
    const shape = new RegExp("^" + (prefixed ? "_?" : "") + digit + "(?:_?" + digit + ")*$");
    if (!shape.test(s)) return null;
    const digits = s.replace(/_/g, "");
    const value = BigInt((base === 16 ? "0x" : "0o") + digits);
    return negative ? -value : value;
  }

  function parseIpv4Part(part) {
    if (!part) return null;
    const head = part.slice(0, 2);
    if (head === "0x" || head === "0X") return part.length > 2 ? pyInt(part.slice(2), 16) : 0n;
    if (part.length > 1 && part[0] === "0") return pyInt(part.slice(1), 8);
    if (/^[0-9]+$/.test(part)) return BigInt(part);
    return null;
  }

  /** Dotted quad for a host written as an IPv4 address in any legal form, else null. */
  function ipv4(host) {
    const parts = host.split(".");
    if (parts.length > 4) return null;
    const nums = [];
    for (const p of parts) {
      const n = parseIpv4Part(p);
      if (n === null) return null;
      nums.push(n);
    }
    for (const n of nums.slice(0, -1)) if (n > 255n) return null;
    const last = nums[nums.length - 1];
    if (last >= 256n ** BigInt(5 - nums.length)) return null;
    let value = last;
    nums.slice(0, -1).forEach((n, i) => {
      value += n << BigInt(8 * (3 - i));
    });
    return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join(".");
  }

  const IDNA_RESULT = /^[A-Za-z0-9_.\-]+$/;
  const utf8Strict = new TextDecoder("utf-8", { fatal: true });

  /**
   * ASCII (punycode) form of a host with non-ASCII letters; unchanged when not a name.
   * UTS 46 as the URL standard applies it (the browser's own parser); a browser hands
   * the extension hosts that are already ASCII, so this matters for tests only.
   */
  function idna(host) {
    let text;
    try {
      const bytes = new Uint8Array(host.length);
      for (let i = 0; i < host.length; i++) bytes[i] = host.charCodeAt(i);
      text = utf8Strict.decode(bytes);
    } catch (e) {
      return host;
    }
    // An ASCII character that is not a name's letter would be a delimiter to the URL
    // parser (and is never valid in IDNA): the host stays as it is, as in Python.
    if (/[^A-Za-z0-9_.\-\u0080-\uffff]/.test(text)) return host;
    let encoded;
    try {
      // ".a" keeps the URL standard from reading a host ending in a number as IPv4
      encoded = new URL("http://" + text + ".a/").hostname;
      if (!encoded.endsWith(".a")) return host;
      encoded = encoded.slice(0, -2);
    } catch (e) {
      return host;
    }
    return IDNA_RESULT.test(encoded) ? encoded : host;
  }

  const DOTS = /\.{2,}/g;

  function stripDots(s) {
    return s.replace(/^\.+|\.+$/g, "");
  }

  /** Lowercase, IDNA, strip and collapse dots, IPv4 in any form to a dotted quad. */
  function cleanHost(host) {
    host = stripDots(host.replace(DOTS, "."));
    if (host.startsWith("[")) {
      const end = host.indexOf("]");
      return asciiLower(end >= 0 ? host.slice(0, end + 1) : host);
    }
    if (/[\x80-\xff]/.test(host)) host = stripDots(idna(host).replace(DOTS, "."));
    host = asciiLower(host);
    return ipv4(host) || host;
  }

  // bytes.lower() changes A-Z only.
  function asciiLower(s) {
    return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
  }

  /** The host part of user:pass@host:port (userinfo and port dropped). */
  function splitAuthority(authority) {
    const at = authority.lastIndexOf("@");
    if (at >= 0) authority = authority.slice(at + 1);
    if (authority.startsWith("[")) {
      const end = authority.indexOf("]");
      return end >= 0 ? authority.slice(0, end + 1) : authority;
    }
    const colon = authority.indexOf(":");
    return colon >= 0 ? authority.slice(0, colon) : authority;
  }

  /** Resolve . and .. segments and collapse runs of slashes. */
  function cleanPath(path) {
    const segments = path.split("/");
    const out = [];
    segments.forEach((seg, i) => {
      const last = i === segments.length - 1;
      if (seg === "..") {
        if (out.length) out.pop();
        if (last) out.push("");
      } else if (seg === ".") {
        if (last) out.push("");
      } else if (seg || last) {
        out.push(seg);
      }
    });
    return "/" + out.join("/");
  }

  const SCHEME = /^([A-Za-z][A-Za-z0-9+.\-]*):\/\//;
  const OUTER_SPACE = /^[ \t\r\n\f\v]+|[ \t\r\n\f\v]+$/g;

  /** [scheme, host, path, query or null] after the Safe Browsing cleaning steps. */
  function parts(url) {
    let raw = bytesOf(url).replace(OUTER_SPACE, "").replace(/[\t\r\n]/g, "");
    const hash = raw.indexOf("#");
    if (hash >= 0) raw = raw.slice(0, hash); // the fragment, before unescaping: %23 is not one
    raw = unescapeFully(raw);
    const m = SCHEME.exec(raw);
    let scheme, rest;
    if (m) {
      scheme = asciiLower(m[1]);
      rest = raw.slice(m[0].length).replace(/^\/+/, "");
    } else {
      scheme = "http";
      rest = raw;
    }
    let cut = rest.length;
    for (const sep of ["/", "?"]) {
      const pos = rest.indexOf(sep);
      if (pos >= 0 && pos < cut) cut = pos;
    }
    const authority = rest.slice(0, cut);
    let tail = rest.slice(cut);
    if (tail.startsWith("?") || !tail) tail = "/" + tail;
    const q = tail.indexOf("?");
    const path = q >= 0 ? tail.slice(0, q) : tail;
    const query = q >= 0 ? tail.slice(q + 1) : null;
    const host = cleanHost(splitAuthority(authority));
    if (!host) throw new InvalidURL("no host in the URL");
    return [scheme, host, cleanPath(path), query];
  }

  /** The canonical form of url under Safe Browsing's rules (see urls.canonicalize). */
  function canonicalize(url) {
    const [scheme, host, path, query] = parts(url);
    const text = scheme + "://" + escapeBytes(host) + escapeBytes(path);
    return query === null ? text : text + "?" + escapeBytes(query);
  }

  function isIp(host) {
    if (!/^[0-9]/.test(host)) return host.startsWith("[");
    return ipv4(host) === host;
  }

  /** The exact host, then suffixes from the last five labels down to two labels. */
  function hostSuffixes(host, allParents = true) {
    const out = [host];
    if (isIp(host)) return out;
    const labels = host.split(".");
    const start = allParents ? 1 : Math.max(1, labels.length - MAX_HOST_SUFFIXES);
    for (let i = start; i < labels.length - 1; i++) out.push(labels.slice(i).join("."));
    return out;
  }

  function pathPrefixes(path, query) {
    const out = [];
    if (query !== null) out.push(path + "?" + query);
    out.push(path);
    const segments = path.split("/").slice(1, -1);
    let prefix = "/";
    out.push(prefix);
    for (const seg of segments.slice(0, MAX_PATH_PREFIXES - 3)) {
      prefix += seg + "/";
      out.push(prefix);
    }
    return [...new Set(out)];
  }

  function splitCanonical(canonical) {
    const rest = canonical.slice(canonical.indexOf("://") + 3);
    const slash = rest.indexOf("/");
    const host = rest.slice(0, slash);
    const tail = rest.slice(slash);
    const q = tail.indexOf("?");
    return q >= 0 ? [host, tail.slice(0, q), tail.slice(q + 1)] : [host, tail, null];
  }

  /** The host-suffix x path-prefix expressions to look up for url (at most 5 x 6). */
  function expressions(url) {
    const [host, path, query] = splitCanonical(canonicalize(url));
    const paths = pathPrefixes(path, query);
    const hosts = hostSuffixes(host, false);
    const out = [];
    for (const h of hosts) for (const p of paths) out.push(h + p);
    // then every deeper parent domain as a whole-host expression
    for (const h of hostSuffixes(host)) if (!hosts.includes(h)) out.push(h + "/");
    return out;
  }

  /** The host/ expressions of url's host: what the suspect-host hint is made of. */
  function hostExpressions(url) {
    const [host] = splitCanonical(canonicalize(url));
    return hostSuffixes(host).map((h) => h + "/");
  }

  function hex(buffer, bytes) {
    const view = new Uint8Array(buffer, 0, bytes);
    let out = "";
    for (const b of view) out += b.toString(16).padStart(2, "0");
    return out;
  }

  /** Hex of the first `bytes` bytes of SHA-256 of each expression (WebCrypto). */
  async function hashPrefixes(exprs, bytes) {
    const subtle = root.crypto.subtle;
    const digests = await Promise.all(exprs.map((e) => subtle.digest("SHA-256", utf8.encode(e))));
    return digests.map((d) => hex(d, bytes));
  }

  const api = {
    InvalidURL,
    canonicalize,
    expressions,
    hostExpressions,
    hostSuffixes,
    hashPrefixes,
  };
  root.KioskUrls = api;
  if (typeof module === "object" && module.exports) module.exports = api;
})(typeof globalThis !== "undefined" ? globalThis : self);
