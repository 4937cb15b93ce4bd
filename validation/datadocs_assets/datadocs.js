/* cdiscflow Data Docs: the two interactions of the GE pages (collapsible panels, "failed only" filter) without
   jQuery or Bootstrap. */
document.addEventListener("click", function (event) {
  var link = event.target.closest('[data-toggle="collapse"]');
  if (!link) { return; }
  event.preventDefault();
  var target = document.getElementById((link.getAttribute("href") || "").replace(/^#/, ""));
  if (target) { target.classList.toggle("show"); }
});
function cdiscflowFilter(failedOnly) {
  document.querySelectorAll(".hide-succeeded-validation-target-child").forEach(function (el) {
    if (el.parentElement) { el.parentElement.style.display = failedOnly ? "none" : ""; }
  });
  document.querySelectorAll(".hide-succeeded-validation-target").forEach(function (el) {
    el.style.display = failedOnly ? "none" : "";
  });
  document.querySelectorAll(".hide-succeeded-validations-column-section-target-child").forEach(function (el) {
    var section = el.parentElement && el.parentElement.parentElement;
    if (!section) { return; }
    section.style.display = failedOnly ? "none" : "";
    if (section.id) {
      document.querySelectorAll('a[href$="' + section.id + '"]').forEach(function (a) {
        a.style.display = failedOnly ? "none" : "";
      });
    }
  });
  document.querySelectorAll(".cdiscflow-filter").forEach(function (b) {
    b.classList.toggle("active", (b.dataset.failed === "1") === failedOnly);
  });
}
