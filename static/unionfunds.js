// Small helpers for the entry forms; the forms work without them, only less comfortably.
(function () {
  "use strict";

  // A second click on a submit button would post the form again. A disabled
  // button is left out of the posted data, so the pressed one's name and value
  // (approve, reject, reverse) travel in a hidden field instead.
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var pressed = event.submitter;
      if (pressed && pressed.name) {
        var carried = document.createElement("input");
        carried.type = "hidden";
        carried.name = pressed.name;
        carried.value = pressed.value;
        form.appendChild(carried);
      }
      form.querySelectorAll("button[data-once]").forEach(function (button) { button.disabled = true; });
    });
  });

  // Search as you type (a federation by name or code, a fund by name): pick one,
  // its id goes to the hidden field.
  document.querySelectorAll("input[data-federation-search]").forEach(function (box) {
    var hidden = document.getElementById(box.dataset.federationSearch);
    var url = box.dataset.searchUrl || "/federations/search/";
    var list = document.getElementById(box.id.replace("_search", "_suggestions"));
    var timer = null;
    box.addEventListener("input", function () {
      hidden.value = "";
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(url + "?q=" + encodeURIComponent(box.value), { credentials: "same-origin" })
          .then(function (response) { return response.json(); })
          .then(function (data) {
            list.innerHTML = "";
            data.results.forEach(function (federation) {
              var item = document.createElement("li");
              item.textContent = federation.label || (federation.name + " (" + federation.code + ")" +
                (federation.parent ? " · " + federation.parent : ""));
              item.setAttribute("role", "option");
              item.addEventListener("click", function () {
                hidden.value = federation.id;
                box.value = federation.name;
                list.innerHTML = "";
              });
              list.appendChild(item);
            });
          });
      }, 200);
    });
    // Typed but not picked before the form came back: offer the choices again.
    if (box.value && !hidden.value) { box.dispatchEvent(new Event("input")); }
  });

  // The amount is echoed in Chinese capitals (大写) as it is typed, as a voucher
  // writes it, so that a slipped zero shows before it is saved.
  document.querySelectorAll("[data-capitals-of]").forEach(function (out) {
    var box = document.getElementById(out.dataset.capitalsOf);
    var label = out.querySelector(".capitals-label");
    var words = out.querySelector(".capitals-words");
    if (!box || !label || !words) { return; }
    var timer = null;
    function show(text, bad) {
      label.hidden = bad || !text;
      words.textContent = text;
      out.className = bad ? "capitals bad" : "capitals";
    }
    box.addEventListener("input", function () {
      clearTimeout(timer);
      var value = box.value.trim();
      if (!value) { show("", false); return; }
      timer = setTimeout(function () {
        fetch("/amounts/capitals/?amount=" + encodeURIComponent(value), { credentials: "same-origin" })
          .then(function (response) { return response.json(); })
          .then(function (data) {
            if (box.value.trim() !== value) { return; }  // a slower answer to an older value
            if (data.valid) { show(data.capitals, false); } else { show(data.message, true); }
          });
      }, 150);
    });
  });

  // A payment goes to a worker or to a unit: only the chosen kind's fields show.
  // Without this script both show, and the server reads the chosen kind's.
  var kinds = document.querySelectorAll('input[name="recipient_kind"]');
  if (kinds.length) {
    var showKind = function () {
      var chosen = document.querySelector('input[name="recipient_kind"]:checked');
      document.querySelectorAll("[data-recipient]").forEach(function (field) {
        field.hidden = !!chosen && field.dataset.recipient !== chosen.value;
      });
    };
    kinds.forEach(function (kind) { kind.addEventListener("change", showKind); });
    showKind();
  }

  // The ID number is checked as it is typed: checksum, birth date, known person.
  var idBox = document.querySelector("input[data-id-check]");
  if (idBox) {
    var out = document.getElementById("id_check");
    var nameBox = document.getElementById("id_name");
    idBox.addEventListener("input", function () {
      var value = idBox.value.trim();
      if (value.length < 18) { out.textContent = ""; out.className = "id-check"; return; }
      fetch("/beneficiaries/check/?id_number=" + encodeURIComponent(value), { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          if (!data.valid) { out.textContent = data.message; out.className = "id-check bad"; return; }
          out.className = "id-check good";
          out.textContent = "✓ " + data.gender + " · " + data.birth_date + (data.registered_name ? " · " + data.registered_name : "");
          if (data.registered_name && nameBox && !nameBox.value) { nameBox.value = data.registered_name; }
        });
    });
  }
})();

// Rows of a table that grows (a household's members): a row is added from the
// table's <template>, numbered as the Django formset counts its rows, and taken
// out with its own button. Without this script the add button posts the form
// back with one more row, and a row left blank is left out.
document.querySelectorAll("table[data-rows]").forEach(function (table) {
  var prefix = table.dataset.rows;
  var total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
  var template = document.getElementById(prefix + "-empty");
  var limit = parseInt(table.dataset.rowLimit || "0", 10);
  var body = table.tBodies[0];
  if (!total || !template || !body) { return; }
  function removable(row) {
    var button = row.querySelector("[data-remove-row]");
    if (!button) { return; }
    button.hidden = false;
    button.addEventListener("click", function () { row.remove(); });
  }
  Array.prototype.forEach.call(body.rows, removable);
  document.querySelectorAll('[data-add-row="' + prefix + '"]').forEach(function (add) {
    add.type = "button";  // added here, not by posting the form back
    add.addEventListener("click", function () {
      var next = parseInt(total.value, 10);
      if (limit && next >= limit) { return; }
      body.insertAdjacentHTML("beforeend", template.innerHTML.replace(/__prefix__/g, String(next)));
      total.value = String(next + 1);
      var row = body.rows[body.rows.length - 1];
      removable(row);
      var first = row.querySelector("input");
      if (first) { first.focus(); }
    });
  });
});

// "All" boxes above a list of entries tick or untick every box of that list.
document.querySelectorAll("input[data-check-all]").forEach(function (all) {
  all.addEventListener("change", function () {
    document.querySelectorAll('input[name="' + all.dataset.checkAll + '"]').forEach(function (box) { box.checked = all.checked; });
  });
});
