// The live run page: follows /api/runs/<id>/stream (snapshot, span,
// iteration, ping, complete) and fills in the rows as calls finish.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root || !window.EventSource) return;
  var state = root.getAttribute("data-state");
  if (state !== "running") return; // a finished run is rendered by the server, a page at a time
  if (root.getAttribute("data-offset") !== "0") return; // an older page stays as it is

  var tbody = document.getElementById("spans");
  var itBody = document.querySelector("#iterations tbody");
  var labels = {};

  function text(s) { return document.createTextNode(s == null ? "" : String(s)); }
  function td(content, cls) {
    var c = document.createElement("td");
    if (cls) c.className = cls;
    if (content instanceof Node) c.appendChild(content); else c.appendChild(text(content));
    return c;
  }
  function badge(label) {
    var b = document.createElement("span");
    b.className = "badge " + label;
    b.textContent = label;
    return b;
  }
  function num(v) {
    if (v == null) return "—";
    if (Math.round(v) === v) return String(v);
    return String(Math.round(v * 10000) / 10000);
  }
  function ms(v) { return v >= 1000 ? num(v / 1000) + " s" : num(Math.round(v * 10) / 10) + " ms"; }
  function clock(s) { return s ? s.replace(/^.*T/, "").replace(/Z$/, "").slice(0, 12) : ""; }
  function shortId(s) { return s && s.length > 20 ? s.slice(0, 20) + "…" : s; }

  function spanRow(sp, fresh) {
    var tr = document.createElement("tr");
    tr.className = "span-row" + (fresh ? " new" : "");
    var a = document.createElement("a");
    a.href = "/traces/" + encodeURIComponent(sp.call_id).replace(/%3A/g, ":");
    a.textContent = shortId(sp.case_id);
    var out = document.createElement("span");
    if (sp.error) { out.className = "error"; out.textContent = sp.error; } else { out.textContent = sp.output || ""; }
    tr.appendChild(td(clock(sp.started_at), "mono small"));
    tr.appendChild(td(sp.iteration, "num"));
    tr.appendChild(td(sp.repetition, "num"));
    tr.appendChild(td(a, "mono small"));
    tr.appendChild(td(badge(sp.label)));
    tr.appendChild(td(num(sp.score), "num"));
    tr.appendChild(td(ms(sp.duration_ms), "num"));
    tr.appendChild(td(out, "small"));
    return tr;
  }
  // A span inside a call (the agent's own, or received over OTLP): a row
  // under its call's, indented, not counted as a call.
  function childRow(sp) {
    var tr = document.createElement("tr");
    tr.className = "span-row child new";
    var name = document.createElement("span");
    name.textContent = "\u21b3 " + sp.kind + " " + (sp.name || "");
    var out = document.createElement("span");
    if (sp.error) { out.className = "error"; out.textContent = sp.error; }
    tr.appendChild(td(clock(sp.started_at), "mono small"));
    tr.appendChild(td(sp.iteration, "num"));
    tr.appendChild(td(sp.repetition, "num"));
    tr.appendChild(td(name, "mono small"));
    tr.appendChild(td(""));
    tr.appendChild(td(""));
    tr.appendChild(td(ms(sp.duration_ms), "num"));
    tr.appendChild(td(out, "small"));
    return tr;
  }
  function iterationRow(it) {
    var tr = document.createElement("tr");
    var ci = it.primary_ci_low != null && it.primary_ci_high != null ? "[" + num(it.primary_ci_low) + ", " + num(it.primary_ci_high) + "]" : "";
    var d = it.delta_vs_best;
    tr.appendChild(td(it.iteration + (it.best ? " ★" : ""), "num"));
    tr.appendChild(td(it.hypothesis));
    var b = document.createElement("b"); b.textContent = num(it.primary_metric_value);
    tr.appendChild(td(b, "num"));
    tr.appendChild(td(ci, "num muted"));
    tr.appendChild(td(d == null ? "—" : d > 0 ? "+" + num(d) : d === 0 ? "±0" : num(d), "num"));
    tr.appendChild(td(badge(it.decision_outcome)));
    return tr;
  }
  function setCounts(calls) {
    document.getElementById("calls").textContent = calls;
    var total = document.getElementById("page-total");
    if (total) total.textContent = calls;
    ["pass", "fail", "error"].forEach(function (l) {
      var el = document.getElementById("n-" + l);
      if (el) el.textContent = labels[l] || 0;
    });
  }
  function setState(s, terminated) {
    var el = document.getElementById("state");
    el.textContent = s;
    el.className = "state " + s;
    root.setAttribute("data-state", s);
    if (terminated != null) document.getElementById("terminated").textContent = terminated;
  }
  function setIterations(list) {
    itBody.textContent = "";
    list.forEach(function (it) { itBody.appendChild(iterationRow(it)); });
    document.getElementById("n-iterations").textContent = list.length;
  }

  var calls = 0;
  var es = new EventSource(root.getAttribute("data-stream"));
  es.addEventListener("snapshot", function (e) {
    var snap = JSON.parse(e.data);
    labels = snap.labels || {};
    calls = snap.calls;
    tbody.textContent = "";
    (snap.spans || []).slice().reverse().forEach(function (sp) { tbody.appendChild(spanRow(sp, false)); });
    setIterations(snap.iterations || []);
    setCounts(calls);
    setState(snap.run.active ? "running" : snap.run.state);
  });
  // A call's inner spans come before its root span; each goes on top, so
  // the call's row ends up above its spans.
  var pending = [];
  es.addEventListener("span", function (e) {
    var sp = JSON.parse(e.data);
    if (sp.parent_id != null) { pending.push(sp); return; }
    for (var i = 0; i < pending.length; i++) tbody.insertBefore(childRow(pending[i]), tbody.firstChild);
    pending = [];
    calls++;
    labels[sp.label] = (labels[sp.label] || 0) + 1;
    tbody.insertBefore(spanRow(sp, true), tbody.firstChild);
    while (tbody.children.length > 500) tbody.removeChild(tbody.lastChild);
    setCounts(calls);
  });
  es.addEventListener("iteration", function (e) {
    var it = JSON.parse(e.data);
    itBody.appendChild(iterationRow(it));
    document.getElementById("n-iterations").textContent = itBody.children.length;
  });
  es.addEventListener("complete", function (e) {
    var c = JSON.parse(e.data);
    es.close();
    labels = c.labels || labels;
    setCounts(c.calls);
    setIterations(c.iterations || []);
    setState(c.final_state, c.terminated || "");
  });
})();
