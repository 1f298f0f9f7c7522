// The theme: light, dark, or the system's (prefers-color-scheme). Loaded in <head> without
// `defer` so data-theme is on <html> before the first paint: a dark page never flashes white.
// The CSS does the rest (color-scheme and light-dark() per data-theme).
(function () {
  "use strict";

  var root = document.documentElement;
  function stored() {
    try { return localStorage.getItem("theme"); } catch (err) { return null; } // storage off
  }
  function apply(choice) {
    root.setAttribute("data-theme", choice === "light" || choice === "dark" ? choice : "system");
  }
  apply(stored());

  // The picker in the top bar: hidden in the markup, since it does nothing without this.
  document.addEventListener("DOMContentLoaded", function () {
    var picker = document.getElementById("theme-choice");
    if (!picker) { return; }
    picker.value = root.getAttribute("data-theme");
    picker.closest(".theme-pick").hidden = false;
    picker.addEventListener("change", function () {
      try {
        if (picker.value === "system") { localStorage.removeItem("theme"); }
        else { localStorage.setItem("theme", picker.value); }
      } catch (err) { /* not remembered, still applied */ }
      apply(picker.value);
    });
  });
  // Another tab changed it: follow.
  window.addEventListener("storage", function (event) {
    if (event.key !== "theme") { return; }
    apply(event.newValue);
    var picker = document.getElementById("theme-choice");
    if (picker) { picker.value = root.getAttribute("data-theme"); }
  });
})();
