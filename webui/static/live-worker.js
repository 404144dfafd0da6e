/* The one live connection of this browser: a SharedWorker that all tabs of the origin share.
 * Each tab's port sends its topics; the worker keeps one event stream for their union
 * (see live-core.js) and hands each tab the events of its own topics. */
"use strict";
// Tried again at once: a network change fails the request in flight (see fetchPatiently). A
// worker still without it tells each tab that connects, which then follows on its own stream
// (live.js); it stays, answering so, while those tabs stay open.
for (let tries = 3; tries > 0; tries--) {
  try { importScripts("live-core.js"); break; } catch (e) { /* once more */ }
}

const mux = self.RunnerLiveCore ? new RunnerLiveCore.LiveMux() : null;

self.onconnect = mux ? connected : (e) => e.ports[0].postMessage({ type: "failed" });

function connected(e) {
  const port = e.ports[0];
  port.onmessage = (m) => {
    const msg = m.data || {};
    if (msg.type === "topics") mux.setTopics(port, msg);
    else if (msg.type === "close") mux.drop(port);
  };
  port.start();
}
