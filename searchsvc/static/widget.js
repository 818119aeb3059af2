/* searchsvc widget: a search box with instant results for any page, from one tag:
 *
 *   <script src="https://search.example.com/widget.js" data-target="#search" async></script>
 *
 * data-target   CSS selector of the element the box goes into (default: right after this tag)
 * data-placeholder, data-results (hits in the dropdown, default 6)
 *
 * Everything lives in a shadow root: the page's CSS cannot reach in, ours cannot leak out, and
 * nothing is added to the page's global names. The page's origin must be allowed by the service
 * (serve --allow-origin, or SEARCHSVC_CORS_ORIGINS).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) return;
  var service = script.src.replace(/\/widget\.js(?:[?#].*)?$/, "");
  var options = {
    target: script.getAttribute("data-target"),
    placeholder: script.getAttribute("data-placeholder") || "搜索文章",
    results: Math.min(Math.max(parseInt(script.getAttribute("data-results"), 10) || 6, 1), 20)
  };
  var DEBOUNCE_MS = 120;
  // One random id per page load: the service folds what is typed within seconds into one search
  // and counts clicks against it; it is kept in no cookie and forgotten by the service soon after.
  var sid = Array.prototype.map.call(window.crypto.getRandomValues(new Uint8Array(12)), function (b) {
    return ("0" + b.toString(16)).slice(-2);
  }).join("");

  function start() {
    var target = options.target ? document.querySelector(options.target) : null;
    var host = document.createElement("div");
    host.className = "searchsvc-widget";
    if (target) target.appendChild(host); else script.parentNode.insertBefore(host, script.nextSibling);
    build(host.attachShadow({ mode: "open" }));
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var name in attrs) node.setAttribute(name, attrs[name]);
    if (text) node.textContent = text;
    return node;
  }

  // The API sends escaped text with <mark> around matches; keep exactly that and nothing else.
  function marked(html) {
    var parsed = document.createElement("template");
    parsed.innerHTML = html;
    var out = document.createDocumentFragment();
    parsed.content.childNodes.forEach(function (node) {
      if (node.nodeName === "MARK") out.appendChild(el("mark", {}, node.textContent));
      else out.appendChild(document.createTextNode(node.textContent));
    });
    return out;
  }

  function build(root) {
    root.appendChild(el("link", { rel: "stylesheet", href: service + "/widget.css" }));
    var box = el("div", { "class": "box", part: "box" });
    var input = el("input", {
      type: "search", role: "combobox", "aria-autocomplete": "list", "aria-expanded": "false",
      "aria-controls": "hits", autocomplete: "off", spellcheck: "false", enterkeyhint: "search",
      placeholder: options.placeholder, "aria-label": options.placeholder
    });
    var panel = el("div", { "class": "panel", hidden: "" });
    var list = el("ul", { id: "hits", role: "listbox", "aria-label": "搜索结果" });
    var status = el("p", { "class": "status", role: "status" });
    var all = el("a", { "class": "all", href: service + "/" });
    panel.append(list, status, all);
    box.append(input, panel);
    root.appendChild(box);

    var composing = false, timer = 0, seq = 0, active = -1, controller = null, lastQuery = "", popular = null;
    var chips = el("div", { "class": "popular", part: "popular", hidden: "" });
    panel.insertBefore(chips, list);

    function report(position, link) {
      if (navigator.sendBeacon) {
        navigator.sendBeacon(service + "/api/click", new URLSearchParams({ sid: sid, position: String(position), id: link.getAttribute("data-id") || "" }));
      }
    }

    // 热门搜索 under the empty box: the week's most searched queries that found posts.
    function showPopular() {
      if (input.value.trim()) { chips.hidden = true; return; }
      if (popular === null) {
        popular = [];
        fetch(service + "/api/popular?limit=8", { mode: "cors", credentials: "omit" })
          .then(function (r) { return r.ok ? r.json() : { queries: [] }; })
          .then(function (body) { popular = body.queries; if (!input.value.trim()) showPopular(); })
          .catch(function () {});
        return;
      }
      if (!popular.length) return;
      chips.textContent = "";
      chips.appendChild(el("span", { "class": "label" }, "热门搜索"));
      popular.forEach(function (p) {
        var chip = el("button", { type: "button", "class": "chip" }, p.query);
        chip.addEventListener("click", function () { input.value = p.query; input.focus(); schedule(0); });
        chips.appendChild(chip);
      });
      list.textContent = "";
      status.textContent = "";
      all.textContent = "";
      chips.hidden = false;
      open(true);
    }

    function open(show) {
      panel.hidden = !show;
      input.setAttribute("aria-expanded", show ? "true" : "false");
    }

    function activate(index) {
      var items = list.querySelectorAll("[role=option]");
      if (!items.length) return;
      active = (index + items.length) % items.length;
      items.forEach(function (item, i) { item.setAttribute("aria-selected", i === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", items[active].id);
      items[active].scrollIntoView({ block: "nearest" });
    }

    function render(q, body) {
      list.textContent = "";
      active = -1;
      input.removeAttribute("aria-activedescendant");
      body.hits.forEach(function (hit, i) {
        var item = el("li", { id: "hit-" + i, role: "option", "aria-selected": "false" });
        var link = el("a", { href: hit.url, tabindex: "-1", "data-id": hit.id });
        link.addEventListener("click", function () { report(i + 1, link); });
        var title = el("span", { "class": "title" });
        title.appendChild(marked(hit.title_html));
        var snippet = el("span", { "class": "snippet" });
        snippet.appendChild(marked(hit.snippet_html));
        link.append(title, snippet, el("time", { datetime: hit.date }, hit.date.slice(0, 10)));
        item.appendChild(link);
        item.addEventListener("mousemove", function () { if (active !== i) activate(i); });
        list.appendChild(item);
      });
      status.textContent = body.corrected ? "已显示“" + body.corrected + "”的结果，找到 " + body.total + " 篇文章"
        : body.total ? "找到 " + body.total + " 篇文章" + (body.partial ? "（部分匹配）" : "")
        : "没有找到“" + q + "”" + (body.suggestion ? "，试试“" + body.suggestion + "”" : "");
      all.textContent = body.total > body.hits.length ? "查看全部 " + body.total + " 篇 →" : "在搜索页打开 →";
      all.href = service + "/?q=" + encodeURIComponent(q);
      chips.hidden = true;
      open(true);
    }

    function search(q) {
      if (controller) controller.abort();
      var mine = ++seq;
      if (!q.trim()) { open(false); list.textContent = ""; showPopular(); return; }
      controller = typeof AbortController === "function" ? new AbortController() : null;
      var url = service + "/api/search?per_page=" + options.results + "&sid=" + sid + "&q=" + encodeURIComponent(q);
      fetch(url, { mode: "cors", credentials: "omit", signal: controller ? controller.signal : undefined })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (body) { if (mine === seq) render(q, body); })
        .catch(function (err) {
          if (mine !== seq || (err && err.name === "AbortError")) return;
          list.textContent = "";
          status.textContent = "搜索暂时不可用";
          all.textContent = "";
          open(true);
        });
    }

    function schedule(delay) {
      if (composing) return;  // never search half-typed pinyin
      if (input.value === lastQuery) return;
      lastQuery = input.value;
      clearTimeout(timer);
      timer = setTimeout(function () { search(input.value); }, delay);
    }

    input.addEventListener("compositionstart", function () { composing = true; clearTimeout(timer); });
    input.addEventListener("compositionend", function () { composing = false; schedule(0); });
    input.addEventListener("input", function (e) { if (!e.isComposing) schedule(DEBOUNCE_MS); });
    input.addEventListener("focus", function () { if (list.children.length) open(true); else showPopular(); });
    input.addEventListener("keydown", function (e) {
      if (e.isComposing || e.keyCode === 229) return;  // the IME's own Enter and arrows
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        if (panel.hidden && list.children.length) open(true);
        activate(active + (e.key === "ArrowDown" ? 1 : -1) + (active < 0 && e.key === "ArrowUp" ? 1 : 0));
      } else if (e.key === "Enter") {
        e.preventDefault();
        var chosen = active >= 0 ? list.children[active].querySelector("a") : null;
        if (chosen) { report(active + 1, chosen); window.location.href = chosen.href; }
        else if (input.value.trim()) window.location.href = service + "/?q=" + encodeURIComponent(input.value);
      } else if (e.key === "Escape") {
        if (!panel.hidden) { e.preventDefault(); open(false); }
        else { input.value = ""; lastQuery = ""; }
      }
    });
    document.addEventListener("pointerdown", function (e) {
      if (e.composedPath().indexOf(root.host) < 0) open(false);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
