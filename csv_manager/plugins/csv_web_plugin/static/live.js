// Keeps a page live: its #live element names an event stream (data-events); on each "change" event the page
// fetches its own URL's live content (X-Live: 1) and puts it in place. Entries (data-item) that arrived since
// the page was opened stay marked "fresh" through later refreshes; "arrived" flashes them once.
"use strict";
(function () {
  const root = document.getElementById("live");
  if (!root || !root.dataset.events || !window.EventSource) {
    return;
  }
  let busy = false;
  let again = false;
  const fresh = new Set();

  function items() {
    return new Set(Array.from(root.querySelectorAll("[data-item]"), (element) => element.dataset.item));
  }

  async function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        const before = items();
        const response = await fetch(window.location.href, {headers: {"X-Live": "1"}, cache: "no-store"});
        if (!response.ok) {
          break;
        }
        root.innerHTML = await response.text();
        for (const element of root.querySelectorAll("[data-item]")) {
          if (!before.has(element.dataset.item) && !fresh.has(element.dataset.item)) {
            fresh.add(element.dataset.item);
            element.classList.add("arrived");
          }
          if (fresh.has(element.dataset.item)) {
            element.classList.add("fresh");
          }
        }
        root.dataset.refreshed = String(Number(root.dataset.refreshed || "0") + 1);
      } while (again);
    } finally {
      busy = false;
    }
  }

  const source = new EventSource(root.dataset.events);
  source.addEventListener("change", refresh);
  source.addEventListener("open", () => { root.dataset.connected = "yes"; });
  source.addEventListener("error", () => { root.dataset.connected = "no"; });
}());
