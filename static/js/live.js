// Live updates: one server-sent-events stream per tab says what changed; each region that
// shows it asks for its own partial again (htmx), so the page never re-renders whole and
// focus, open details and scroll position survive. Without EventSource, or while the
// stream is down, the regions' own polling carries on: this only makes them immediate.
(function () {
  "use strict";

  var body = document.body;
  var url = body && body.getAttribute("data-stream-url");
  if (!url || !window.EventSource) { return; }

  // Regions say what they show: data-live="list" (any call), "status" (the status line),
  // or "call:<id>" (one call). A burst of changes asks each region once.
  var pending = new Set();
  var timer = null;
  function refresh(el) {
    pending.add(el);
    if (timer) { return; }
    timer = setTimeout(function () {
      timer = null;
      pending.forEach(function (node) {
        // Not while someone types in it or has a part of it open: their poll comes later.
        var busy = node.contains(document.activeElement) && document.activeElement !== document.body;
        if (busy || node.querySelector("details[open]")) { return; }
        if (document.body.contains(node) && window.htmx) { window.htmx.trigger(node, "live-change"); }
      });
      pending.clear();
    }, 40);
  }
  function wants(el, msg) {
    var kind = el.getAttribute("data-live") || "";
    if (msg.kind === "reset") { return true; }
    if (kind === "status") { return msg.kind === "status"; }
    if (kind === "list") { return msg.kind !== "status"; }
    if (kind.indexOf("call:") === 0) {
      return Boolean(msg.many) || Object.prototype.hasOwnProperty.call(msg.calls || {}, kind.slice(5));
    }
    return false;
  }
  function dispatch(msg) {
    document.querySelectorAll("[data-live]").forEach(function (el) {
      if (wants(el, msg)) { refresh(el); }
    });
  }

  var from = body.getAttribute("data-stream-from") || "";
  var source = new EventSource(url + (from ? "?from=" + encodeURIComponent(from) : ""));
  source.addEventListener("change", function (event) {
    try { dispatch(JSON.parse(event.data)); } catch (err) { /* a bad message changes nothing */ }
  });
  // The gap since this page last listened is larger than the server keeps: refresh all.
  source.addEventListener("reset", function () { dispatch({ kind: "reset" }); });
  source.addEventListener("logout", function () { source.close(); window.location.reload(); });
  source.addEventListener("open", function () { body.setAttribute("data-stream", "open"); });
  source.addEventListener("error", function () { body.setAttribute("data-stream", "reconnecting"); });

  // Ringing calls: the count in the title, and (opt-in) a notification with a sound.
  var baseTitle = document.title;
  var known = null;
  function ringingChanged() {
    var strip = document.getElementById("ringing");
    if (!strip) { return; }
    var ids = Array.prototype.map.call(strip.querySelectorAll("[data-ringing-id]"), function (el) {
      return el.getAttribute("data-ringing-id");
    });
    document.title = (ids.length ? "(" + ids.length + " ringing) " : "") + baseTitle;
    var fresh = known ? ids.filter(function (id) { return known.indexOf(id) === -1; }) : [];
    known = ids;
    if (fresh.length && localStorage.getItem("notify-ringing") === "on" &&
        window.Notification && Notification.permission === "granted") {
      new Notification("Incoming call ringing", { body: fresh.length + " new ringing call(s)" });
      beep();
    }
    var toggle = document.getElementById("notify-toggle");
    if (toggle) {
      toggle.setAttribute("aria-pressed", localStorage.getItem("notify-ringing") === "on" ? "true" : "false");
    }
  }
  function beep() {
    try {
      var context = new (window.AudioContext || window.webkitAudioContext)();
      var tone = context.createOscillator();
      tone.frequency.value = 880;
      tone.connect(context.destination);
      tone.start();
      tone.stop(context.currentTime + 0.2);
    } catch (err) { /* no audio: the notification alone */ }
  }
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest("#notify-toggle");
    if (!toggle) { return; }
    if (localStorage.getItem("notify-ringing") === "on") {
      localStorage.setItem("notify-ringing", "off");
      ringingChanged();
      return;
    }
    var enable = function () { localStorage.setItem("notify-ringing", "on"); ringingChanged(); };
    if (window.Notification && Notification.permission !== "granted") {
      Notification.requestPermission().then(function (answer) { if (answer === "granted") { enable(); } });
    } else { enable(); }
  });
  document.addEventListener("htmx:afterSwap", ringingChanged);
  document.addEventListener("DOMContentLoaded", ringingChanged);
})();
