// linewise: small niceties on top of pages that work without JavaScript.
// - selects marked data-autosubmit reload the page as soon as they change;
// - the custom dates show only when the period is "Custom dates";
// - empty or unused fields stay out of the URL.
(function () {
  "use strict";
  function setup(form) {
    var period = form.querySelector("[data-period]");
    var custom = form.querySelectorAll("[data-custom]");
    function sync() {
      var on = !period || period.value === "custom";
      custom.forEach(function (el) { el.hidden = !on; });
    }
    sync();
    form.querySelectorAll("[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () {
        if (el === period && period.value === "custom") {
          sync();
          var from = form.querySelector("[name=from]");
          if (from) { from.focus(); }
          return;
        }
        if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
      });
    });
    form.addEventListener("submit", function () {
      form.querySelectorAll("input, select").forEach(function (el) {
        var unused = el.closest("[data-custom]") && period && period.value !== "custom";
        if (el.name && (el.value === "" || unused)) { el.disabled = true; }
      });
    });
  }
  function ready() {
    document.querySelectorAll("form[data-filters]").forEach(setup);
  }
  // Coming back through the history: fields disabled on submit are live again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-filters] [disabled]").forEach(function (el) { el.disabled = false; });
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
