/* Course search: the index this course root's build wrote (_site/search-index.js)
   is loaded on first use, so it works from disk as well as from a server. */
(function () {
  "use strict";
  function tokens(text) {
    return (text.toLowerCase().match(/[\p{L}\p{N}_]+/gu) || []).filter(function (t) { return t.length > 1; });
  }
  function load(root, done) {
    if (window.clxSearch) { done(); return; }
    var script = document.createElement("script");
    script.src = root + "_site/search-index.js";
    script.onload = done;
    document.head.appendChild(script);
  }
  /* Decks holding a word that starts with every query word; title hits first. */
  function find(query) {
    var index = window.clxSearch, words = tokens(query), found = null;
    if (!index || !words.length) { return []; }
    words.forEach(function (q) {
      var hit = {};
      Object.keys(index.words).forEach(function (w) {
        if (w.lastIndexOf(q, 0) === 0) { index.words[w].forEach(function (d) { hit[d] = true; }); }
      });
      found = found === null ? hit : Object.keys(found).reduce(function (both, d) {
        if (hit[d]) { both[d] = true; } return both;
      }, {});
    });
    var inTitle = function (d) {
      var t = tokens(index.docs[d].t);
      return words.every(function (q) { return t.some(function (w) { return w.lastIndexOf(q, 0) === 0; }); });
    };
    return Object.keys(found).map(Number).sort(function (a, b) {
      return (inTitle(b) - inTitle(a)) || (a - b);
    }).slice(0, 12).map(function (d) {
      var doc = index.docs[d];
      var headings = doc.h.filter(function (h) {
        var t = tokens(h);
        return words.some(function (q) { return t.some(function (w) { return w.lastIndexOf(q, 0) === 0; }); });
      });
      return { doc: doc, headings: headings.slice(0, 3) };
    });
  }
  function show(input, list, root) {
    list.textContent = "";
    find(input.value).forEach(function (r) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = root + r.doc.u;
      link.textContent = r.doc.t;
      item.appendChild(link);
      var section = document.createElement("span");
      section.className = "clx-result-section";
      section.textContent = r.doc.s;
      item.appendChild(section);
      r.headings.forEach(function (h) {
        var a = document.createElement("a");
        a.className = "clx-result-heading";
        a.href = root + r.doc.u + "#:~:text=" + encodeURIComponent(h);
        a.textContent = h;
        item.appendChild(a);
      });
      list.appendChild(item);
    });
    list.hidden = !list.firstChild;
  }
  function setup() {
    document.querySelectorAll("input.clx-search").forEach(function (input) {
      var root = input.getAttribute("data-root") || "";
      var list = document.createElement("ul");
      list.className = "clx-results";
      list.hidden = true;
      input.parentNode.appendChild(list);
      var update = function () { load(root, function () { show(input, list, root); }); };
      input.addEventListener("input", update);
      input.addEventListener("focus", function () { load(root, function () {}); });
      input.addEventListener("keydown", function (e) {
        var first = list.querySelector("a");
        if (e.key === "Enter" && first) { e.preventDefault(); window.location.href = first.href; }
        if (e.key === "Escape") { list.hidden = true; }
      });
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", setup); } else { setup(); }
})();
