"use strict";
// The budget page: polls the usage API and draws headroom, a squarified treemap, quota bars and
// the latest decisions. No dependencies.
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
      drawDecisions(d.decisions);
      st.className = "muted";
      st.textContent = "updated " + new Date().toLocaleTimeString() + " · refreshes every " + REFRESH_MS / 1000 + " s";
    } catch (e) {
      st.className = "error";
      st.textContent = "cannot load: " + e.message;
    }
    setTimeout(refresh, REFRESH_MS);
  }

  window.squarify = squarify;
  refresh();
})();
