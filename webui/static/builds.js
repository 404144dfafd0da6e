/* Build list: new and finished builds appear without reloading (small JSON polling). */
"use strict";
(function () {
  const body = document.getElementById("build-rows");
  if (!body) return;
  let last = null;
  async function poll() {
    try {
      const res = await fetch(body.dataset.poll, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (res.ok) {
        const data = await res.json();
        // The rows come rendered (and escaped) by the server's template.
        if (last !== null && data.signature !== last) body.innerHTML = data.html;
        last = data.signature;
      }
    } catch (e) { /* server away: try again next tick */ }
    setTimeout(poll, document.hidden ? 10000 : 2000);
  }
  poll();
})();
