/* Log rendering: one line of log text as DOM nodes, with ANSI styles and OSC 8 links.
 *
 * Text reaches the page through textContent only, so HTML or script in a log line is shown as
 * text; a hyperlink escape becomes a link only for an http or https address. Colours map to CSS
 * classes (app.css) so they stay readable in light and dark; a 256-colour or true-colour
 * background gets black or white text, whichever reads better on it.
 */
"use strict";

/* Split one line into [text, state] pieces following SGR escape codes and OSC 8 hyperlinks;
 * drops other escapes. The server has already applied carriage returns (runner.logtext). */
function ansiPieces(line, state) {
  const out = [];
  const re = /\x1b\[([0-9;?]*)([A-Za-z])|\x1b\]([^\x07\x1b]*)(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b./g;
  let last = 0;
  let m;
  while ((m = re.exec(line)) !== null) {
    if (m.index > last) out.push([line.slice(last, m.index), Object.assign({}, state)]);
    last = re.lastIndex;
    if (m[2] === "m") applySgr(state, m[1]);
    else if (m[3] !== undefined && m[3].startsWith("8;")) {
      const target = m[3].slice(2).slice(m[3].slice(2).indexOf(";") + 1);
      if (target) state.link = target; else delete state.link;
    }
  }
  if (last < line.length) out.push([line.slice(last), Object.assign({}, state)]);
  return out;
}

function applySgr(st, params) {
  const codes = params === "" ? [0] : params.split(";").map((p) => parseInt(p || "0", 10));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) { for (const k of Object.keys(st)) if (k !== "link") delete st[k]; }
    else if (c === 1) st.b = true;
    else if (c === 2) st.d = true;
    else if (c === 3) st.i = true;
    else if (c === 4) st.u = true;
    else if (c === 7) st.inv = true;
    else if (c === 9) st.s = true;
    else if (c === 22) { delete st.b; delete st.d; }
    else if (c === 23) delete st.i;
    else if (c === 24) delete st.u;
    else if (c === 27) delete st.inv;
    else if (c === 29) delete st.s;
    else if (c >= 30 && c <= 37) st.fg = c - 30;
    else if (c >= 90 && c <= 97) st.fg = c - 90 + 8;
    else if (c === 39) delete st.fg;
    else if (c >= 40 && c <= 47) st.bg = c - 40;
    else if (c >= 100 && c <= 107) st.bg = c - 100 + 8;
    else if (c === 49) delete st.bg;
    else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
      st[c === 38 ? "fg" : "bg"] = color256(codes[i + 2] || 0);
      i += 2;
    } else if ((c === 38 || c === 48) && codes[i + 1] === 2) {
      const rgb = codes.slice(i + 2, i + 5).map((v) => Math.max(0, Math.min(255, v || 0)));
      st[c === 38 ? "fg" : "bg"] = "rgb(" + rgb.join(",") + ")";
      i += 4;
    }
  }
}

function color256(n) {
  if (n < 16) return n;
  if (n >= 232) { const v = 8 + (n - 232) * 10; return "rgb(" + v + "," + v + "," + v + ")"; }
  n -= 16;
  const steps = [0, 95, 135, 175, 215, 255];
  return "rgb(" + steps[Math.floor(n / 36)] + "," + steps[Math.floor(n / 6) % 6] + "," + steps[n % 6] + ")";
}

/* Black or white, whichever reads better on the colour "rgb(r,g,b)" (WCAG relative luminance). */
function textOn(rgb) {
  const lin = rgb.slice(4, -1).split(",").map((v) => {
    const c = parseInt(v, 10) / 255;
    return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
  });
  const l = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? "#000" : "#fff";
}

/* An OSC 8 target as a link address: only http and https, anything else stays text. */
function safeLink(target) {
  try {
    const url = new URL(target);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch (e) {
    return null;
  }
}

function plainState(st) {
  return !st.fg && st.fg !== 0 && !st.bg && st.bg !== 0 && !st.b && !st.d && !st.i && !st.u &&
    !st.inv && !st.s && !st.link;
}

function renderText(span, line, state) {
  if (line.indexOf("\x1b") < 0 && plainState(state)) {
    span.textContent = line;
    return;
  }
  for (const [text, st] of ansiPieces(line, state)) {
    const href = st.link ? safeLink(st.link) : null;
    const piece = document.createElement(href ? "a" : "span");
    if (href) {
      piece.href = href;
      piece.rel = "noopener noreferrer";
      piece.target = "_blank";
    }
    piece.textContent = text;
    const cls = href ? ["ol"] : [];
    if (st.b) cls.push("ab");
    if (st.d) cls.push("ad");
    if (st.i) cls.push("ai");
    if (st.u) cls.push("au");
    if (st.s) cls.push("as");
    // Inverse swaps the colours; a default one becomes the log's own (text or background).
    const fg = st.inv ? st.bg : st.fg;
    const bg = st.inv ? st.fg : st.bg;
    if (st.inv && fg === undefined && bg === undefined) cls.push("ainv");
    else if (st.inv && bg === undefined) cls.push("binv");
    if (typeof bg === "number") cls.push("b" + bg);
    else if (bg) {
      piece.style.background = bg;
      if (fg === undefined) piece.style.color = textOn(bg);
    }
    if (typeof fg === "number") cls.push("f" + fg); else if (fg) piece.style.color = fg;
    if (cls.length) piece.className = cls.join(" ");
    span.appendChild(piece);
  }
}

/* A time since the step started as a log shows it: "0:07", "12:30", "1:02:03"; "" for null. */
function elapsedText(ms) {
  if (ms === null || ms === undefined) return "";
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? h + ":" + String(m).padStart(2, "0") + ":" + ss : m + ":" + ss;
}

/* One numbered row of the log: number, time since the step started (``ms``, shown only while
 * the log shows times), text. The text is the row's only span and its last child. */
function makeRow(n, line, ansi, ms) {
  const row = document.createElement("div");
  row.className = "ln";
  row.id = "L" + n;
  const a = document.createElement("a");
  a.href = "#L" + n;
  a.textContent = String(n);
  a.tabIndex = -1;
  const time = document.createElement("time");
  if (ms !== null && ms !== undefined) {
    time.dateTime = "PT" + ms / 1000 + "S";
    time.textContent = elapsedText(ms);
  }
  const span = document.createElement("span");
  renderText(span, line, ansi);
  row.append(a, time, span);
  return row;
}
