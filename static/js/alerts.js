// Saved views: "Save this view" saves the filters the calls list shows now. The filters
// form updates the address bar (hx-push-url) without reloading the page, so the query
// rendered into the form may be stale: take the address bar's at submit. Capture phase,
// so this runs before htmx reads the form.
(function () {
  "use strict";
  if (window.dashboardAlertsLoaded) return;
  window.dashboardAlertsLoaded = true;
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-save-view")) return;
      var field = form.querySelector("input[name=query]");
      if (field) field.value = window.location.search.replace(/^\?/, "");
    },
    true
  );
})();
