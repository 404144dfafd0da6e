/* The one live connection of this browser: a SharedWorker that all tabs of the origin share.
 * Each tab's port sends its topics; the worker keeps one event stream for their union
 * (see live-core.js) and hands each tab the events of its own topics. */
"use strict";
// Tried again at once: a network change fails the request in flight (see fetchPatiently), and a
// worker without it would leave every tab of the browser without updates.
for (let tries = 3; ; tries--) {
  try { importScripts("live-core.js"); break; } catch (e) { if (tries <= 1) throw e; }
}

const mux = new RunnerLiveCore.LiveMux();

self.onconnect = (e) => {
  const port = e.ports[0];
  port.onmessage = (m) => {
    const msg = m.data || {};
    if (msg.type === "topics") mux.setTopics(port, msg);
    else if (msg.type === "close") mux.drop(port);
  };
  port.start();
};
