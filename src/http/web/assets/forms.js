// Creation forms: an input with data-slug-of="<id>" follows the named field as a URL slug
// (GitLab's rule: lower case, runs of other characters become "-") until the person types in it
// themselves. Without the script the server makes the same slug from the name.
(function () {
  "use strict";
  function slug(name) {
    var out = "";
    for (var i = 0; i < name.trim().length; i++) {
      var c = name.trim()[i];
      if (/[A-Za-z0-9_.-]/.test(c)) out += c.toLowerCase();
      else if (out.slice(-1) !== "-") out += "-";
    }
    return out.replace(/^-+|-+$/g, "");
  }
  document.querySelectorAll("input[data-slug-of]").forEach(function (target) {
    var source = document.getElementById(target.getAttribute("data-slug-of"));
    if (!source) return;
    var typed = target.value !== "" && target.value !== slug(source.value);
    target.addEventListener("input", function () { typed = target.value !== ""; });
    source.addEventListener("input", function () {
      if (!typed) target.value = slug(source.value);
    });
  });
})();
