// Keyboard shortcuts for people who live in this console: "/" search, "j"/"k" move through
// the calls of a table, Enter opens the selected one, "?" lists them all. Every one of them
// is also a plain link, field or button reachable with Tab: these only save keystrokes.
(function () {
  "use strict";

  var SEARCH_PENDING = "focus-search";  // "/" pressed on a page without the search box
  var selectedId = null;  // the selected row's call id: rows are re-rendered by polls

  function typingIn(target) {
    if (!target || !target.tagName) { return false; }
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }
  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("main tr[data-call-id]"));
  }
  function selectedRow() {
    // By its mark, or by its call id when a poll has just put a fresh copy of the row there.
    var marked = document.querySelector("main tr.is-selected");
    if (marked || !selectedId) { return marked; }
    return rows().filter(function (r) { return r.getAttribute("data-call-id") === selectedId; })[0] || null;
  }

  function select(row, focus) {
    var old = selectedRow();
    if (old && old !== row) { old.classList.remove("is-selected"); old.removeAttribute("aria-current"); }
    if (!row) { selectedId = null; return; }
    selectedId = row.getAttribute("data-call-id");
    row.classList.add("is-selected");
    row.setAttribute("aria-current", "true");
    // Focused so that a screen reader reads the row and Tab goes on to its links and buttons.
    row.setAttribute("tabindex", "-1");
    if (focus) {
      row.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
  }
  function move(step) {
    var all = rows();
    if (!all.length) { return; }
    var at = all.indexOf(selectedRow());
    var next = at === -1 ? 0 : Math.min(all.length - 1, Math.max(0, at + step));
    select(all[next], true);
  }
  function openSelected() {
    var row = selectedRow();
    var link = row && row.querySelector("a.badge");  // the call's own page
    if (link) { link.click(); return true; }
    return false;
  }

  function focusSearch() {
    var box = document.getElementById("id_q");
    if (box) {
      box.focus();
      box.select();
      return;
    }
    // Not on this page: the calls list has it, and focuses it once loaded.
    var calls = document.querySelector("nav[aria-label=Main] a");
    if (!calls) { return; }
    try { sessionStorage.setItem(SEARCH_PENDING, "1"); } catch (err) { /* then just go */ }
    window.location.href = calls.href;
  }

  var dialog = document.getElementById("shortcuts");
  function showShortcuts() {
    if (dialog && !dialog.open && dialog.showModal) { dialog.showModal(); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (dialog && dialog.open) { return; }  // Escape closes it; nothing else acts behind it
    var target = event.target;
    if (typingIn(target)) {
      if (event.key === "Escape" && target.id === "id_q") { target.blur(); }
      return;
    }
    switch (event.key) {
      case "/":
        event.preventDefault();  // or the "/" would be typed into the box
        focusSearch();
        break;
      case "j":
        move(1);
        break;
      case "k":
        move(-1);
        break;
      case "Enter":
        // On a link or button inside the row Enter does what it always does.
        if ((target === selectedRow() || target === document.body) && openSelected()) {
          event.preventDefault();
        }
        break;
      case "Escape":
        select(null);
        break;
      case "?":
        event.preventDefault();
        showShortcuts();
        break;
    }
  });

  // A poll or a live update re-renders the table: the same call stays selected, and keeps
  // the focus if it had it (the old row left the document with it).
  document.addEventListener("htmx:afterSettle", function () {
    if (!selectedId || document.querySelector("main tr.is-selected")) { return; }
    var lost = document.activeElement === document.body || !document.activeElement;
    var row = selectedRow();
    if (row) { select(row, lost); } else { selectedId = null; }
  });

  var opener = document.getElementById("shortcuts-open");
  if (opener && dialog) {
    opener.hidden = false;
    opener.addEventListener("click", showShortcuts);
    document.getElementById("shortcuts-close").addEventListener("click", function () { dialog.close(); });
  }

  try {
    if (sessionStorage.getItem(SEARCH_PENDING)) {
      sessionStorage.removeItem(SEARCH_PENDING);
      var box = document.getElementById("id_q");
      if (box) { box.focus(); }
    }
  } catch (err) { /* no storage: no pending focus */ }
})();
