// The interface's base behaviour; every page works without it.
// - <time data-relative> elements show "3 minutes ago", refreshed every 15 s (the exact time
//   stays in their title).
// - [data-copy="<id>"] buttons copy the value of element <id> to the clipboard.
// - forms with data-confirm="<question>" ask before they are sent.
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
  document.addEventListener("submit", function (e) {
    var q = e.target.getAttribute("data-confirm");
    if (q && !window.confirm(q)) e.preventDefault();
  });
  refreshTimes();
  setInterval(refreshTimes, 15000);
})();
