// Live mirror tables: any element with data-live-mirrors="<stream URL>" (the dashboard's
// section, a project's mirror summary, the repository settings' mirror table) subscribes to
// that server-sent event stream (GET /-/mirrors/stream[?project=<full path>][&status=<filter>])
// and updates what is under it in place; without JavaScript the page is simply static.
//
// The contract (the server renders every piece, so this stays small):
// - rows: <tr data-mirror-id="ID">; under a row, any element with data-field="status",
//   "last_update", "last_successful", "last_error" or "behind" (each optional) gets its HTML
//   replaced by the event's cells[field] (the badge, a <time data-relative>, the error…);
// - event "mirror" {id, failing, cells}: sent for every shown mirror when the stream starts,
//   then on every change. A row missing under the element means a mirror appeared: the page
//   reloads (at most once a second). With data-live-sort on the element, a row that starts
//   failing moves to the top of its table body (rows carry data-failing="true|false");
// - event "removed" {id}: the row goes away;
// - event "counts" {total: "42 mirrors", failing: "2 failing", numbers: {...}}: every
//   [data-count="total"] / [data-count="failing"] under the element gets the text;
// - event "signed_out": the stream ended with the session; the page reloads (to sign in).
(function () {
  "use strict";
  if (!window.EventSource) return;
  function subscribe(root) {
    var source = new EventSource(root.getAttribute("data-live-mirrors"));
    var reloading = null;
    function reloadSoon() {
      if (!reloading) reloading = setTimeout(function () { window.location.reload(); }, 1000);
    }
    function rowOf(id) {
      return root.querySelector('tr[data-mirror-id="' + String(id).replace(/[^0-9]/g, "") + '"]');
    }
    function parse(e) {
      try { return JSON.parse(e.data); } catch (_) { return null; }
    }
    source.addEventListener("mirror", function (e) {
      var d = parse(e);
      if (!d) return;
      var row = rowOf(d.id);
      if (!row) { reloadSoon(); return; }
      Object.keys(d.cells || {}).forEach(function (field) {
        row.querySelectorAll('[data-field="' + field + '"]').forEach(function (cell) {
          cell.innerHTML = d.cells[field];
        });
      });
      var was = row.getAttribute("data-failing") === "true";
      row.setAttribute("data-failing", d.failing ? "true" : "false");
      if (d.failing && !was && root.hasAttribute("data-live-sort") && row.parentNode) {
        row.parentNode.insertBefore(row, row.parentNode.firstElementChild);
      }
      if (window.pushmirror) window.pushmirror.refreshTimes(row);
    });
    source.addEventListener("removed", function (e) {
      var d = parse(e);
      var row = d && rowOf(d.id);
      if (row) row.parentNode.removeChild(row);
    });
    source.addEventListener("counts", function (e) {
      var d = parse(e);
      if (!d) return;
      ["total", "failing"].forEach(function (k) {
        root.querySelectorAll('[data-count="' + k + '"]').forEach(function (el) {
          if (typeof d[k] === "string") el.textContent = d[k];
        });
      });
    });
    source.addEventListener("signed_out", function () {
      source.close();
      window.location.reload();
    });
  }
  document.querySelectorAll("[data-live-mirrors]").forEach(subscribe);
})();
