// An import's progress on the project page: while section[data-import][data-running] is on the
// page, the page is fetched every 2 s and the section replaced by the new one; when the import
// has ended the whole page is loaded again (its branches and tags arrived). Without the
// script, a reload shows the same.
(function () {
  "use strict";
  var section = document.querySelector("section[data-import][data-running]");
  if (!section || !window.fetch) return;
  var timer = setInterval(function () {
    fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.querySelector("section[data-import]");
        if (!next) return;
        if (!next.hasAttribute("data-running")) {
          clearInterval(timer);
          location.reload();
          return;
        }
        var current = document.querySelector("section[data-import]");
        if (current) current.replaceWith(document.importNode(next, true));
      })
      .catch(function () {});
  }, 2000);
})();
