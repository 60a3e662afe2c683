// Filters of the overview table. State lives in the URL hash (#status=FALSIFIED&q=gpu),
// so a filtered view can be linked and bookmarked; works from file:// (no fetch, no CDN).
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.falsifier"));
  var inputs = { status: document.getElementById("f-status"), contract: document.getElementById("f-contract"),
                 host: document.getElementById("f-host"), q: document.getElementById("f-q") };
  var shown = document.getElementById("shown-count");
  function state() {
    var s = {};
    Object.keys(inputs).forEach(function (k) { s[k] = inputs[k].value.trim(); });
    return s;
  }
  function matches(row, s) {
    if (s.status && row.dataset.status !== s.status) return false;
    if (s.contract && row.dataset.contract !== s.contract) return false;
    if (s.host && (" " + row.dataset.hosts + " ").indexOf(" " + s.host + " ") < 0) return false;
    if (s.q && row.dataset.text.indexOf(s.q.toLowerCase()) < 0) return false;
    return true;
  }
  function apply() {
    var s = state(), n = 0;
    rows.forEach(function (row) { var ok = matches(row, s); row.hidden = !ok; if (ok) n++; });
    shown.textContent = n + " of " + rows.length + " shown";
    document.body.dataset.shown = String(n);
  }
  function toHash() {
    var s = state(), parts = [];
    Object.keys(s).forEach(function (k) { if (s[k]) parts.push(k + "=" + encodeURIComponent(s[k])); });
    history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname);
  }
  function fromHash() {
    var h = location.hash.replace(/^#/, "");
    Object.keys(inputs).forEach(function (k) { inputs[k].value = ""; });
    h.split("&").forEach(function (kv) {
      var i = kv.indexOf("="); if (i < 0) return;
      var k = kv.slice(0, i), v = decodeURIComponent(kv.slice(i + 1));
      if (inputs[k]) inputs[k].value = v;
    });
  }
  Object.keys(inputs).forEach(function (k) {
    inputs[k].addEventListener("input", function () { apply(); toHash(); });
  });
  window.addEventListener("hashchange", function () { fromHash(); apply(); });
  fromHash();
  apply();
  document.body.dataset.ready = "1";
})();
