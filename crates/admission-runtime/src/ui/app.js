"use strict";
// The budget page: polls the usage API and draws headroom, the size history, a squarified
// treemap, the ZooKeeper footprint, quota bars and the latest decisions. No dependencies.
(function () {
  const REFRESH_MS = 3000;
  const $ = (id) => document.getElementById(id);
  const fmt = (n) => Math.round(n).toLocaleString("en-US");
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  // Squarified treemap (Bruls, Huizing, van Wijk 2000): lays `items` (value > 0, sorted largest
  // first) into the rectangle x, y, w, h; rows are added to while that does not worsen the
  // worst aspect ratio of the row.
  function squarify(items, x, y, w, h) {
    const out = [];
    const total = items.reduce((s, i) => s + i.value, 0);
    if (total <= 0 || w <= 0 || h <= 0) return out;
    const scale = (w * h) / total;
    let i = 0;
    while (i < items.length) {
      const side = Math.min(w, h);
      let sum = 0, min = Infinity, max = 0, best = Infinity, j = i;
      for (; j < items.length; j++) {
        const a = items[j].value * scale;
        const s2 = sum + a, mn = Math.min(min, a), mx = Math.max(max, a);
        const worst = Math.max((side * side * mx) / (s2 * s2), (s2 * s2) / (side * side * mn));
        if (j > i && worst > best) break;
        sum = s2; min = mn; max = mx; best = worst;
      }
      const row = items.slice(i, j);
      i = j;
      if (w >= h) {
        const cw = sum / h;
        let cy = y;
        for (const r of row) { const rh = (r.value * scale) / cw; out.push({ item: r, x, y: cy, w: cw, h: rh }); cy += rh; }
        x += cw; w -= cw;
      } else {
        const rh = sum / w;
        let cx = x;
        for (const r of row) { const rw = (r.value * scale) / rh; out.push({ item: r, x: cx, y, w: rw, h: rh }); cx += rw; }
        y += rh; h -= rh;
      }
    }
    return out;
  }

  function hue(name) {
    let h = 0;
    for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    return h % 360;
  }

  function children(node) {
    return (node.children || []).filter((c) => c.bytes > 0).map((c) => ({ value: c.bytes, node: c })).sort((a, b) => b.value - a.value);
  }

  function shortName(id) {
    const parts = id.split("/").filter(Boolean);
    return parts.length ? parts[parts.length - 1] : "/";
  }

  function drawTree(root, totalBytes) {
    const box = $("treemap");
    const W = box.clientWidth, H = box.clientHeight;
    const frag = document.createDocumentFragment();
    const hover = $("hover");
    const place = (node, x, y, w, h, depth, topHue) => {
      for (const r of squarify(children(node), x, y, w, h)) {
        const c = r.item.node;
        if (r.w < 2 || r.h < 2) continue;
        const cls = c.kind === "group" ? "g" : c.kind === "app" ? "a" : "o";
        const d = el("div", "cell " + cls);
        const hh = depth === 0 ? hue(c.id) : topHue;
        d.style.left = r.x + "px"; d.style.top = r.y + "px"; d.style.width = r.w + "px"; d.style.height = r.h + "px";
        if (c.kind !== "group") d.style.backgroundColor = "hsl(" + hh + ",55%," + (c.kind === "other" ? 82 : 70) + "%)";
        d.dataset.id = c.id;
        d.dataset.kind = c.kind;
        d.dataset.bytes = c.bytes;
        const pct = totalBytes ? ((100 * c.bytes) / totalBytes).toFixed(1) : "0";
        d.title = c.id + ": " + fmt(c.bytes) + " bytes (" + pct + "% of the root group)";
        d.addEventListener("mouseenter", () => { hover.textContent = d.title; });
        if (r.w > 36 && r.h > 13) d.textContent = c.kind === "group" ? c.id : c.kind === "other" ? c.apps + " smaller apps" : shortName(c.id);
        frag.appendChild(d);
        if (c.kind === "group" && r.w > 8 && r.h > 20) place(c, r.x + 2, r.y + 15, r.w - 4, r.h - 17, depth + 1, hh);
      }
    };
    place(root, 0, 0, W, H, 0, 0);
    box.replaceChildren(frag);
  }

  function drawSummary(r) {
    const hr = $("headroom");
    const ratio = r.headroom_ratio;
    hr.className = "figure " + (ratio < 0.2 ? "over" : ratio < 0.4 ? "warn" : "ok");
    hr.dataset.ratio = ratio.toFixed(4);
    hr.dataset.bytes = r.headroom_bytes;
    hr.querySelector(".big").textContent = (100 * ratio).toFixed(1) + "%";
    hr.querySelector(".label").textContent = fmt(r.headroom_bytes) + " of " + fmt(r.limit_bytes) + " bytes left";
    $("facts").textContent =
      "Marathon " + r.marathon_version + ", " + r.layout + " layout. Now " + fmt(r.current_bytes) + " bytes (" + r.binding_node +
      "); admission rejects at " + fmt(r.reject_at_bytes) + ". Root group: " + fmt(r.root_bytes) + " bytes uncompressed, " +
      fmt(r.groups.length ? r.groups[0].subtree.apps : 0) + " apps.";
  }

  function drawQuotas(quotas) {
    const box = $("quotas");
    if (!quotas.length) { box.replaceChildren(el("p", "muted", "no [[quota]] configured")); return; }
    const frag = document.createDocumentFragment();
    for (const q of quotas.slice().sort((a, b) => b.max_ratio - a.max_ratio)) {
      const d = el("div", "quota");
      d.dataset.group = q.group;
      const t = el("div", "title", q.group + " ");
      t.appendChild(el("span", "muted", (q.owner ? "owner " + q.owner + " · " : "") + q.mode));
      d.appendChild(t);
      for (const res of q.resources) {
        const b = el("div", "bar");
        b.dataset.resource = res.resource;
        b.appendChild(el("span", "", res.resource));
        const track = el("div", "track");
        const fill = el("div", "fill" + (res.ratio >= 1 ? " over" : res.ratio >= 0.9 ? " warn" : ""));
        fill.style.width = Math.min(100, 100 * res.ratio).toFixed(1) + "%";
        track.appendChild(fill);
        b.appendChild(track);
        const unit = res.resource === "mem" || res.resource === "disk" ? " MiB" : "";
        const v = (x) => (Number.isInteger(x) ? fmt(x) : x.toFixed(2));
        b.appendChild(el("span", "", v(res.used) + " / " + v(res.limit) + unit + " (" + (100 * res.ratio).toFixed(0) + "%)"));
        d.appendChild(b);
      }
      frag.appendChild(d);
    }
    box.replaceChildren(frag);
  }

  function drawDecisions(list) {
    const body = $("decisions").querySelector("tbody");
    const frag = document.createDocumentFragment();
    for (const d of list) {
      const tr = el("tr");
      tr.appendChild(el("td", "", (d.time || "").replace("T", " ").replace(/\.\d+Z$/, "Z")));
      tr.appendChild(el("td", "", d.method + " " + d.path + (d.dry_run ? " (dry run)" : "")));
      tr.appendChild(el("td", d.decision, d.decision));
      const why = el("td", "", d.reason);
      why.title = (d.reasons || []).join("\n");
      tr.appendChild(why);
      tr.appendChild(el("td", "", d.predicted_bytes == null ? "" : fmt(d.predicted_bytes)));
      tr.appendChild(el("td", "", d.user || ""));
      frag.appendChild(tr);
    }
    if (!list.length) { const tr = el("tr"); const td = el("td", "muted", "no decisions yet"); td.colSpan = 6; tr.appendChild(td); frag.appendChild(tr); }
    body.replaceChildren(frag);
  }

  // The footprint: a row per part (current nodes, version copies, pending plans), then the total.
  function drawFootprint(f) {
    const box = $("footprint");
    box.dataset.totalBytes = f.total_bytes;
    const frag = document.createDocumentFragment();
    for (const i of f.items) {
      const tr = el("tr");
      tr.dataset.part = i.part;
      tr.dataset.bytes = i.bytes;
      tr.appendChild(el("td", "", i.nodes_named));
      tr.appendChild(el("td", "num", fmt(i.nodes)));
      tr.appendChild(el("td", "num", fmt(i.bytes)));
      tr.appendChild(el("td", "muted", i.rule));
      frag.appendChild(tr);
    }
    const total = el("tr", "total");
    total.appendChild(el("td", "", "total (zk_max_versions " + f.zk_max_versions + ")"));
    total.appendChild(el("td", "num", fmt(f.total_nodes)));
    total.appendChild(el("td", "num", fmt(f.total_bytes)));
    total.appendChild(el("td", "muted", "node data only; ZooKeeper adds each node's path and stat"));
    frag.appendChild(total);
    box.querySelector("tbody").replaceChildren(frag);
  }

  // The way out: the plan of `GET /admission/v1/way-out`, its first steps listed with the
  // request that applies each one.
  const WAY_OUT_SHOWN = 25;
  function drawWayOut(p) {
    const box = $("wayout");
    box.dataset.reached = String(p.reached);
    box.dataset.steps = p.steps.length;
    const frag = document.createDocumentFragment();
    const end = p.steps.length ? p.steps[p.steps.length - 1].binding_bytes_after : p.binding_bytes;
    let summary = "Now " + fmt(p.binding_bytes) + " bytes; target " + fmt(p.target_bytes) + " of " + fmt(p.limit_bytes) + ". ";
    if (!p.steps.length) summary += p.reached ? "Nothing to do." : "Nothing outside the protected groups can shrink it.";
    else summary += p.steps.length + " step" + (p.steps.length > 1 ? "s" : "") + " bring it to " + fmt(end) + " bytes" + (p.reached ? "." : ", not yet the target: the rest is protected or cannot shrink.");
    frag.appendChild(el("p", p.reached ? "muted" : "warn", summary));
    if (p.steps.length) {
      const ol = el("ol", "steps");
      const what = { delete_app: "delete app", delete_group: "delete group", clear_env: "empty the environment of" };
      const how = { delete_app: "DELETE /v2/apps", delete_group: "DELETE /v2/groups", clear_env: "PUT /v2/apps" };
      for (const s of p.steps.slice(0, WAY_OUT_SHOWN)) {
        const li = el("li", s.action, (what[s.action] || s.action) + " " + s.id + " frees " + fmt(s.frees_bytes) + " bytes ");
        li.dataset.id = s.id;
        li.dataset.action = s.action;
        li.appendChild(el("span", "muted small", "(" + how[s.action] + s.id + (s.action === "clear_env" ? " {\"env\":{}}" : "") + "; then " + fmt(s.binding_bytes_after) + ")"));
        ol.appendChild(li);
      }
      frag.appendChild(ol);
      if (p.steps.length > WAY_OUT_SHOWN) frag.appendChild(el("p", "muted", "… and " + (p.steps.length - WAY_OUT_SHOWN) + " more: GET /admission/v1/way-out"));
    }
    box.replaceChildren(frag);
  }

  // Where it is heading: the binding node's size over time (`GET /admission/v1/history`) as a
  // step line (a band where older points were merged: their min..max), the warning level, the
  // wall (where admission refuses growing writes) and the limit; the growth of the last days
  // continued as a dashed line, up to the limit at most.
  const DAY_MS = 86400000;
  // The SVG namespace, from the parser: the page names no address at all.
  const SVG_NS = (() => { const d = document.createElement("div"); d.innerHTML = "<svg></svg>"; return d.firstChild.namespaceURI; })();
  const svg = (tag, attrs, text) => {
    const e = document.createElementNS(SVG_NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const when = (t) => new Date(t).toISOString().slice(0, 16).replace("T", " ") + "Z";

  function drawGrowth(h) {
    const p = $("growth");
    const g = h.growth;
    p.textContent = g ? g.summary + "." : "No size recorded yet: the chart starts with the first sync.";
    const days = g ? g.days_to_wall : null;
    p.className = days == null ? "muted" : days < 14 ? "over" : days < 60 ? "warn" : "muted";
    if (days == null) delete p.dataset.daysToWall; else p.dataset.daysToWall = days.toFixed(1);
  }

  function drawHistory(h) {
    drawGrowth(h);
    const box = $("history");
    const pts = h.points.map(([t, bytes, min, max]) => ({ t, bytes, min, max }));
    const W = box.clientWidth || 800, H = box.clientHeight || 240;
    const L = 78, R = 8, T = 8, B = 20;
    const chart = svg("svg", { viewBox: "0 0 " + W + " " + H, "data-points": pts.length });
    if (!pts.length) { box.replaceChildren(chart); return; }
    const last = pts[pts.length - 1];
    const now = Math.max(h.now, last.t);
    const t0 = Math.min(pts[0].t, now - 60000);
    const rate = h.growth && h.growth.bytes_per_day > 0 ? h.growth.bytes_per_day : 0;
    // The trend, a quarter of the span ahead, cut where it meets the limit.
    let tEnd = now + (rate ? (now - t0) / 4 : 0), bEnd = last.bytes + (rate * (tEnd - now)) / DAY_MS;
    if (rate && h.limit_bytes > last.bytes && bEnd > h.limit_bytes) { tEnd = now + ((h.limit_bytes - last.bytes) / rate) * DAY_MS; bEnd = h.limit_bytes; }
    const top = Math.max(h.limit_bytes, ...pts.map((p) => p.max), bEnd) * 1.04 || 1;
    const x = (t) => L + ((t - t0) / (Math.max(tEnd, now) - t0)) * (W - L - R);
    const y = (b) => T + (1 - b / top) * (H - T - B);
    for (const [b, label] of [[0, "0"], [top / 2, fmt(top / 2)]]) chart.appendChild(svg("text", { x: L - 6, y: y(b) + 4, "text-anchor": "end" }, label));
    chart.appendChild(svg("text", { x: L, y: H - 5 }, when(t0)));
    chart.appendChild(svg("text", { x: x(now), y: H - 5, "text-anchor": "end" }, "now"));
    for (const [cls, b, name, dy] of [["warn", h.warn_at_bytes, "warning", -3], ["wall", h.reject_at_bytes, "wall", 11], ["limit", h.limit_bytes, "limit", -3]]) {
      if (!(b > 0)) continue;
      chart.appendChild(svg("line", { class: "level " + cls, x1: L, x2: W - R, y1: y(b), y2: y(b), "data-bytes": b }));
      chart.appendChild(svg("text", { class: cls, x: W - R - 2, y: y(b) + dy, "text-anchor": "end" }, name + " " + fmt(b)));
    }
    let d = "M" + x(pts[0].t).toFixed(1) + "," + y(pts[0].bytes).toFixed(1);
    pts.forEach((p, i) => {
      if (p.min < p.max) {
        const from = i ? x(pts[i - 1].t) : x(p.t) - 1;
        chart.appendChild(svg("rect", { class: "band", x: from, y: y(p.max), width: Math.max(1, x(p.t) - from), height: Math.max(1, y(p.min) - y(p.max)) }));
      }
      if (i) d += "H" + x(p.t).toFixed(1) + "V" + y(p.bytes).toFixed(1);
    });
    d += "H" + x(now).toFixed(1);
    chart.appendChild(svg("path", { class: "size", d, "data-points": pts.length, "data-last": last.bytes }));
    if (rate) chart.appendChild(svg("line", { class: "trend", x1: x(now), y1: y(last.bytes), x2: x(tEnd), y2: y(bEnd) }));
    const dot = svg("circle", { class: "size now", cx: x(now), cy: y(last.bytes), r: 3 });
    dot.appendChild(svg("title", {}, fmt(last.bytes) + " bytes since " + when(last.t)));
    chart.appendChild(dot);
    box.replaceChildren(chart);
  }

  async function getJSON(path) {
    // Against the origin: a page opened with the login in its URL (user:pass@host) has a base URL holding the
    // credentials, which fetch refuses; the browser sends the login it used for the page itself.
    const r = await fetch(new URL(path, location.origin), { cache: "no-store" });
    const body = await r.json();
    if (!r.ok) throw new Error(body.message || r.status);
    return body;
  }

  async function refresh() {
    const st = $("status");
    try {
      const [r, d] = await Promise.all([getJSON("/admission/v1/groups?tree=1"), getJSON("/admission/v1/decisions?limit=20")]);
      drawSummary(r);
      drawTree(r.tree, r.root_bytes);
      drawQuotas(r.quotas);
      drawFootprint(r.footprint);
      drawDecisions(d.decisions);
      st.className = "muted";
      st.textContent = "updated " + new Date().toLocaleTimeString() + " · refreshes every " + REFRESH_MS / 1000 + " s";
    } catch (e) {
      st.className = "error";
      st.textContent = "cannot load: " + e.message;
    }
    setTimeout(refresh, REFRESH_MS);
  }

  // Planning measures the state a few times: every 30 s is enough (the server keeps the plan
  // until the state changes).
  const WAY_OUT_MS = 30000;
  async function refreshWayOut() {
    try {
      drawWayOut(await getJSON("/admission/v1/way-out"));
    } catch (e) {
      $("wayout").replaceChildren(el("p", "muted", "way out unavailable: " + e.message));
    }
    setTimeout(refreshWayOut, WAY_OUT_MS);
  }

  // The history changes with the root only; every 15 s is enough.
  const HISTORY_MS = 15000;
  async function refreshHistory() {
    try {
      drawHistory(await getJSON("/admission/v1/history"));
    } catch (e) {
      $("growth").textContent = "history unavailable: " + e.message;
    }
    setTimeout(refreshHistory, HISTORY_MS);
  }

  window.squarify = squarify;
  refresh();
  refreshWayOut();
  refreshHistory();
})();
