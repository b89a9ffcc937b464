// The admin's export page: "Select all" ticks every field box. django-import-export
// attaches its handler inline (onchange), which the Content-Security-Policy refuses.
document.querySelectorAll("input.select-toggle").forEach(function (toggle) {
  toggle.addEventListener("change", onSelectToggleChange); // from import_export/export_selectable_fields.js
});
