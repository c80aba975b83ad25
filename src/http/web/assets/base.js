// The interface's base behaviour; every page works without it.
// - <time data-relative> elements show "3 minutes ago", refreshed every 15 s (the exact time
//   stays in their title).
// - [data-copy="<id>"] buttons copy the value of element <id> to the clipboard.
// - forms with data-confirm="<question>" ask before they are sent.
// - forms with data-remote are sent in the background (the page stays; live updates show the
//   outcome) and the flash message of the page they lead to is shown at the top.
(function () {
  "use strict";
  function ago(then) {
    var s = Math.max(0, Math.round((Date.now() - then) / 1000));
    if (s < 45) return "just now";
    var units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
    for (var i = 0; i < units.length; i++) {
      var n = Math.floor(s / units[i][1]);
      if (n >= 1) return n + " " + units[i][0] + (n === 1 ? "" : "s") + " ago";
    }
    return "1 minute ago";
  }
  function refreshTimes(root) {
    (root || document).querySelectorAll("time[data-relative]").forEach(function (t) {
      var when = Date.parse(t.getAttribute("datetime"));
      if (!isNaN(when)) t.textContent = ago(when);
    });
  }
  window.pushmirror = { ago: ago, refreshTimes: refreshTimes };
  document.addEventListener("click", function (e) {
    var b = e.target.closest("[data-copy]");
    if (!b) return;
    var el = document.getElementById(b.getAttribute("data-copy"));
    if (!el) return;
    var text = el.value !== undefined ? el.value : el.textContent;
    var done = function () {
      var old = b.textContent;
      b.textContent = "Copied";
      setTimeout(function () { b.textContent = old; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      if (el.select) el.select();
      document.execCommand("copy");
      done();
    }
  });
  function showFlash(flash) {
    var main = document.querySelector("main");
    if (!main || !flash) return;
    var old = main.querySelector(":scope > .flash");
    if (old) old.replaceWith(flash); else main.prepend(flash);
  }
  document.addEventListener("submit", function (e) {
    var f = e.target;
    var q = f.getAttribute("data-confirm");
    if (q && !window.confirm(q)) { e.preventDefault(); return; }
    if (!f.hasAttribute("data-remote") || !window.fetch) return;
    e.preventDefault();
    var buttons = f.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(f.action, { method: "POST", body: new URLSearchParams(new FormData(f)), credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) {
        return r.text().then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var flash = doc.querySelector(".flash");
          if (!flash) {
            flash = document.createElement("div");
            flash.className = r.ok ? "flash notice" : "flash alert";
            flash.setAttribute("role", r.ok ? "status" : "alert");
            var h = doc.querySelector("h1");
            flash.textContent = r.ok ? "Done." : (h ? h.textContent : "That did not work.");
          }
          showFlash(document.importNode(flash, true));
        });
      })
      .catch(function () { f.submit(); })
      .finally(function () { buttons.forEach(function (b) { b.disabled = false; }); });
  });
  refreshTimes();
  setInterval(refreshTimes, 15000);
})();
