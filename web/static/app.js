// dirsync's only script of its own: times in the browser's local zone,
// the focus on a form's error summary, or in the first field of an
// empty form.
// Every <time data-local> is rendered in UTC by the server (so pages read
// the same without JavaScript); this shows it in local time with how long
// ago it was, and keeps the UTC time in the tooltip.
(function () {
  "use strict";
  var fmt = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit"
  });
  var rel = typeof Intl.RelativeTimeFormat === "function"
    ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;

  function ago(then) {
    if (!rel) return "";
    var s = Math.round((then - Date.now()) / 1000);
    var a = Math.abs(s);
    if (a < 45) return rel.format(Math.round(s), "second");
    if (a < 2700) return rel.format(Math.round(s / 60), "minute");
    if (a < 79200) return rel.format(Math.round(s / 3600), "hour");
    if (a < 2592000) return rel.format(Math.round(s / 86400), "day");
    if (a < 31536000) return rel.format(Math.round(s / 2592000), "month");
    return rel.format(Math.round(s / 31536000), "year");
  }

  function localize(root) {
    var els = (root || document).querySelectorAll("time[data-local]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) continue;
      var hint = ago(d);
      el.textContent = fmt.format(d) + (hint ? " (" + hint + ")" : "");
      el.setAttribute("data-localized", "");
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    // A form sent back with errors: move the focus to its summary, so a
    // keyboard or screen-reader user starts at the list of what to fix.
    var summary = document.querySelector("[data-focus-on-load]");
    if (summary) {
      summary.focus();
    } else {
      // An empty form to fill in (Settings on a first run): start in its
      // first field.
      var form = document.querySelector("[data-focus-first]");
      var first = form && form.querySelector("input:not([type=hidden]):not([disabled]), select, textarea");
      if (first) first.focus();
    }
  });
  document.addEventListener("htmx:afterSettle", function (e) { localize(e.target); });
  // The relative hints age; refresh them every half minute.
  setInterval(function () { localize(document); }, 30000);
})();
