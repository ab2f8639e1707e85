// static.mjs stands in, under plain workerd (make edge-dev, the end-to-end test), for
// what Cloudflare's static-assets layer does in front of the worker: serve the files of
// the assets folder (env.FILES, a workerd disk service) with their MIME type, the headers
// that assets/_headers gives their path, a strong ETag (the file's SHA-256) and 304 to a
// matching If-None-Match; "/" and "dir/" serve index.html. With env.WORKER bound, a path
// that is no asset, or a method other than GET and HEAD, goes to the worker, as on
// Cloudflare; without it (the worker's own ASSETS binding) a miss is a 404.
const types = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  wasm: "application/wasm",
  ckpt: "application/octet-stream",
  png: "image/png",
  svg: "image/svg+xml",
  txt: "text/plain; charset=utf-8",
};

let rules; // Promise of [{pattern: RegExp, headers: [[name, value]]}] from _headers
const etags = new Map(); // path -> ETag

// parseHeaders reads the _headers format: a path pattern at the start of a line (one *
// matches anything), then indented "Name: value" lines; # starts a comment.
function parseHeaders(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line.trim() || line.trim().startsWith("#")) continue;
    if (!/^\s/.test(line)) {
      const re = line.trim().split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*");
      out.push({ pattern: new RegExp("^" + re + "$"), headers: [] });
    } else if (out.length) {
      const i = line.indexOf(":");
      out[out.length - 1].headers.push([line.slice(0, i).trim(), line.slice(i + 1).trim()]);
    }
  }
  return out;
}

async function serve(request, env) {
  if (request.method !== "GET" && request.method !== "HEAD") return null;
  const url = new URL(request.url);
  let path = decodeURIComponent(url.pathname);
  if (path.split("/").some((p) => p.startsWith(".")) || path === "/_headers") return null;
  const file = path.endsWith("/") ? path + "index.html" : path;
  const got = await env.FILES.fetch(new URL(file, "http://files"));
  if (!got.ok || got.headers.get("content-type")?.includes("directory")) return null;
  const body = await got.arrayBuffer();
  if (!etags.has(file)) {
    const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
    etags.set(file, '"' + [...sum.slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("") + '"');
  }
  rules ??= env.FILES.fetch("http://files/_headers").then((r) => (r.ok ? r.text() : "")).then(parseHeaders);
  const h = new Headers({ "Content-Type": types[file.split(".").pop()] ?? "application/octet-stream", ETag: etags.get(file) });
  for (const rule of await rules) {
    if (!rule.pattern.test(path)) continue;
    for (const [name, value] of rule.headers) {
      // Cloudflare joins the values of every matching rule.
      h.set(name, h.has(name) && name.toLowerCase() !== "content-type" ? h.get(name) + ", " + value : value);
    }
  }
  const inm = request.headers.get("If-None-Match");
  if (inm && inm.split(",").some((t) => t.trim().replace(/^W\//, "") === etags.get(file))) {
    return new Response(null, { status: 304, headers: h });
  }
  h.set("Content-Length", String(body.byteLength));
  return new Response(request.method === "HEAD" ? null : body, { status: 200, headers: h });
}

export default {
  async fetch(request, env) {
    const res = await serve(request, env);
    if (res) return res;
    if (env.WORKER) return env.WORKER.fetch(request);
    return new Response("not found", { status: 404 });
  },
};
