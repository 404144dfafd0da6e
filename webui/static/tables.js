// On a phone, tables show as cards (app.css); each data cell is labelled with the heading of
// its column (data-label) so a card says what each value is. Rows that arrive later (the
// builds list refreshes its rows) are labelled as they come. Labels are plain attribute text.
(function () {
  "use strict";

  function headings(table) {
    const row = table.tHead && table.tHead.rows[0];
    if (!row) return null;
    const names = [];
    for (const th of row.cells) {
      for (let i = 0; i < th.colSpan; i++) names.push(th.textContent.trim());
    }
    return names;
  }

  function label(table) {
    const names = headings(table);
    if (!names) return;
    for (const body of table.tBodies) {
      for (const row of body.rows) {
        let column = 0;
        for (const cell of row.cells) {
          // A cell spanning columns (a form row, "no builds yet") has no single heading.
          const name = cell.colSpan === 1 ? names[column] : "";
          if (name && cell.tagName === "TD" && !cell.hasAttribute("data-label")) {
            cell.setAttribute("data-label", name);
          }
          column += cell.colSpan;
        }
      }
    }
  }

  document.querySelectorAll("main table").forEach(label);
  const main = document.querySelector("main");
  if (!main || !window.MutationObserver) return;
  new MutationObserver(function (changes) {
    const touched = new Set();
    for (const change of changes) {
      const table = change.target.closest && change.target.closest("table");
      if (table) touched.add(table);
      for (const node of change.addedNodes) {
        if (node.querySelectorAll) node.querySelectorAll("table").forEach((t) => touched.add(t));
        if (node.tagName === "TABLE") touched.add(node);
      }
    }
    touched.forEach(label);
  }).observe(main, { childList: true, subtree: true });
})();
