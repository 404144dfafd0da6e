// Forms (or their submit buttons) with data-confirm="question" ask before they post: cancel,
// deploy, delete and revoke. Dismissing the dialog keeps the page as it was. The listener sits
// on the document, so forms a page script draws later (the build page's buttons) ask too.
// Without JavaScript the form posts at once: the question is a guard against slips, and every
// action still checks the user's role on the server.
(function () {
  "use strict";
  document.addEventListener(
    "submit",
    function (event) {
      const form = event.target;
      if (!(form instanceof HTMLFormElement)) return;
      const button = event.submitter;
      const question =
        (button && button.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true
  );
})();
