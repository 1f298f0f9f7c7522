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
