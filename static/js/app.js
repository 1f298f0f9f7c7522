// Small progressive enhancements; the pages work without them.
(function () {
  "use strict";

  // Tell the server the viewer's time zone so it renders times in it. The name goes in
  // as it is (the server does not percent-decode cookies); zone names only hold
  // characters a cookie value may carry.
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && /^[A-Za-z0-9_+\/-]+$/.test(zone) && document.cookie.indexOf("tz=" + zone) === -1) {
    document.cookie = "tz=" + zone + "; path=/; SameSite=Lax; max-age=31536000";
  }

  // Durations of live calls tick every second.
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function format(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return h ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-live-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-live-since"));
      if (!isNaN(since)) { el.textContent = format(Math.max(0, Math.floor((now - since) / 1000))); }
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSwap", tick);
  document.addEventListener("DOMContentLoaded", tick);
})();

// Requests in flight: a thin bar at the top of the page (body.is-busy, styled in app.css;
// htmx's own indicator styles are off, they would need an inline <style>). Only for what
// someone asked for: polls and live refreshes run all the time and would keep it lit.
(function () {
  "use strict";

  // Requests are told apart by their XMLHttpRequest: when the element that asked is gone
  // (the swap replaced it), htmx fires afterRequest on an ancestor, whose detail.elt is that
  // ancestor, not the element.
  var inFlight = new Set();
  var followers = new Map();  // request -> the "Filtered by" link that sent it
  function asked(event) {
    var cause = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
    return Boolean(cause) && cause.type !== "live-change";
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt.closest && elt.closest(".filtered-by")) { followers.set(event.detail.xhr, elt.getAttribute("hx-get")); }
    if (!asked(event)) { return; }
    inFlight.add(event.detail.xhr);
    document.body.classList.add("is-busy");
  });
  // afterRequest follows every request that started: answered, failed or aborted alike.
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr;
    if (inFlight.delete(xhr) && !inFlight.size) { document.body.classList.remove("is-busy"); }
    var link = followers.get(xhr);
    followers.delete(xhr);
    if (link && event.detail.successful) { follow(new URL(link, window.location.href).searchParams); }
  });

  // A "Filtered by" link swaps the table and the address: the filter fields above it follow
  // the link's query, or their next change would bring the removed filter back. (Not after
  // the form's own requests: those carry what the fields say, maybe already typed further.)
  function follow(params) {
    var form = document.getElementById("filters");
    if (!form) { return; }
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.type === "submit") { return; }
      var value = params.get(field.name);
      if (field.tagName === "SELECT") {
        field.value = value === null ? field.options[0].value : value;
        if (field.selectedIndex === -1) { field.selectedIndex = 0; }
      } else if (field.type === "checkbox") {
        field.checked = value !== null;
      } else {
        field.value = value === null ? "" : value;
      }
    });
  }

  // Choosing "Custom range" shows its dates, which are under "More filters".
  document.addEventListener("change", function (event) {
    if (event.target.id === "id_period" && event.target.value === "custom") {
      var more = document.querySelector("#filters .more-filters");
      if (more) { more.open = true; }
    }
  });
})();
