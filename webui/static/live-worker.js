/* The one live connection of this browser: a SharedWorker that all tabs of the origin share.
 * Each tab's port sends its topics; the worker keeps one event stream for their union
 * (see live-core.js) and hands each tab the events of its own topics. */
"use strict";
importScripts("live-core.js");

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
