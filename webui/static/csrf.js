// Unsafe calls (POST, PUT, PATCH, DELETE) to the server authenticated by the session cookie
// must carry the page's CSRF token in the X-CSRF-Token header, or the API answers 403.
// Every page loads this first, so each fetch of the pages' scripts carries it without
// repeating it at every call site.
(function () {
  "use strict";
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (!meta || !window.fetch) return;
  const token = meta.content;
  const safe = new Set(["GET", "HEAD", "OPTIONS"]);
  const plainFetch = window.fetch.bind(window);

  window.fetch = function (resource, init) {
    const request = new Request(resource, init);
    // The token is for this server only; never hand it to another origin.
    if (safe.has(request.method) || new URL(request.url).origin !== window.location.origin) {
      return plainFetch(resource, init);
    }
    const headers = new Headers(request.headers);
    headers.set("X-CSRF-Token", token);
    return plainFetch(new Request(request, { headers }));
  };
})();
