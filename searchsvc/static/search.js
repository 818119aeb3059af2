// Search as you type, on top of a page that works without JavaScript.
// The server renders the result list (?fragment=1) with the same template as the full page.
(function () {
  "use strict";
  var box = document.getElementById("q");
  var results = document.getElementById("results");
  var form = document.getElementById("search-form");
  if (!box || !results || !form) return;

  var DEBOUNCE_MS = 180;
  var composing = false;
  var timer = 0;
  var seq = 0;
  var lastQuery = box.value;
  var popular = document.getElementById("popular");
  // One random id per page load: the server folds what is typed within seconds (数 -> 数字 -> 数字经济)
  // into one search and counts clicks against it. It is not stored beyond that, nor in a cookie.
  var sid = results.getAttribute("data-sid") || Array.prototype.map.call(
    window.crypto.getRandomValues(new Uint8Array(12)), function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");

  function showPopular() { if (popular) popular.hidden = !!box.value.trim(); }

  function currentParams() {
    var params = new URLSearchParams(window.location.search);
    params.delete("page");
    params.delete("fragment");
    params.set("q", box.value);
    return params;
  }

  function load(params, push) {
    var mine = ++seq;
    var query = params.toString();
    var fetchParams = new URLSearchParams(params);
    fetchParams.set("fragment", "1");
    fetchParams.set("sid", sid);
    showPopular();
    if (!params.get("q") && !params.get("category") && !params.get("tag") && !params.get("author")) {
      results.innerHTML = "";
      history.replaceState(null, "", window.location.pathname);
      return;
    }
    fetch("/?" + fetchParams.toString(), { headers: { "Accept": "text/html" } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        if (mine !== seq) return;  // a newer request has been sent since
        results.innerHTML = html;
        var url = window.location.pathname + "?" + query;
        if (push) history.pushState(null, "", url); else history.replaceState(null, "", url);
        document.title = (params.get("q") ? params.get("q") + " - " : "") + document.title.replace(/^.* - /, "");
      })
      .catch(function () { /* keep the last results; the form still works without script */ });
  }

  function schedule() {
    if (composing) return;  // never search half-typed pinyin
    if (box.value === lastQuery) return;
    lastQuery = box.value;
    clearTimeout(timer);
    timer = setTimeout(function () { load(currentParams(), false); }, DEBOUNCE_MS);
  }

  box.addEventListener("compositionstart", function () { composing = true; clearTimeout(timer); });
  box.addEventListener("compositionend", function () { composing = false; schedule(); });
  box.addEventListener("input", function (e) {
    if (e.isComposing) return;
    schedule();
  });

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    clearTimeout(timer);
    lastQuery = box.value;
    load(currentParams(), true);
  });

  // A click on a hit goes to the server in the background, as the browser leaves the page.
  results.addEventListener("click", function (e) {
    var hit = e.target.closest ? e.target.closest("a.hit-link") : null;
    if (!hit || !navigator.sendBeacon) return;
    navigator.sendBeacon("/api/click", new URLSearchParams({
      sid: sid, position: hit.getAttribute("data-position") || "0", id: hit.getAttribute("data-id") || ""
    }));
  });
  if (popular) popular.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest("a[data-nav]") : null;
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    box.value = new URLSearchParams(a.search).get("q") || "";
    lastQuery = box.value;
    load(currentParams(), true);
  });

  results.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest("a[data-nav]") : null;
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    var params = new URLSearchParams(a.search);
    box.value = params.get("q") || "";
    lastQuery = box.value;
    load(params, true);
  });

  window.addEventListener("popstate", function () {
    var params = new URLSearchParams(window.location.search);
    box.value = params.get("q") || "";
    lastQuery = box.value;
    load(params, false);
  });

  function links() { return Array.prototype.slice.call(results.querySelectorAll("a.hit-link")); }

  function move(delta) {
    var all = links();
    if (!all.length) return;
    var i = all.indexOf(document.activeElement);
    var next = i + delta;
    if (next < 0) { box.focus(); return; }
    if (next >= all.length) next = all.length - 1;
    all[next].focus();
  }

  document.addEventListener("keydown", function (e) {
    var typing = e.target === box || /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName);
    if (e.key === "/" && !typing) { e.preventDefault(); box.focus(); box.select(); return; }
    if (e.isComposing || composing) return;
    if (e.key === "ArrowDown" && (e.target === box || links().indexOf(e.target) >= 0)) { e.preventDefault(); move(1); }
    else if (e.key === "ArrowUp" && links().indexOf(e.target) >= 0) { e.preventDefault(); move(-1); }
    else if (e.key === "Escape" && e.target !== box) { box.focus(); }
  });
})();
