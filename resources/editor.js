/**
 * Helpers shared by the package's editor dialogs. Node-RED serves a module's resources folder at
 * resources/<module>/, and each node's .html loads this file before its own script, so a rule
 * such as "empty means the default" is written once for all six dialogs.
 */
(function () {
  "use strict";

  function empty(v) {
    return v === undefined || v === null || String(v).trim() === "";
  }

  /** A field's value while the dialog is open; the saved property when the editor validates a closed node. */
  function chosen(node, key) {
    var input = $("#node-input-" + key);
    return input.length ? input.val() : node[key];
  }

  /**
   * Validators whose refusals are messages of the node's catalogue under `namespace`
   * ("<type>.validation."). They return true or the message the editor shows beside the field
   * (Node-RED passes `opt` since 3.1); without `opt` they return false, as older editors expect.
   */
  function validators(namespace) {
    function verdict(node, opt, ok, key, params) {
      return ok ? true : opt && node._ ? node._(namespace + key, params) : false;
    }
    return {
      verdict: verdict,
      oneOf: function (values) {
        return function (v, opt) {
          return verdict(this, opt, empty(v) || values.indexOf(String(v)) !== -1, "oneOf", { values: values.join(", ") });
        };
      },
      integerIn: function (min, max) {
        return function (v, opt) {
          var n = Number(v);
          return verdict(this, opt, empty(v) || (Math.floor(n) === n && n >= min && n <= max), "integer", { min: min, max: max });
        };
      },
      numberIn: function (min, max) {
        return function (v, opt) {
          var n = Number(v);
          return verdict(this, opt, empty(v) || (isFinite(n) && n >= min && n <= max), "number", { min: min, max: max });
        };
      },
      /**
       * A *Recipes* field (src/lib/recipes/settings.ts): empty, or a JSON object from recipe name to
       * an object of settings; the settings themselves are checked by the runtime at deploy.
       */
      recipeSettings: function (v, opt) {
        var ok = empty(v);
        if (!ok) {
          try {
            var o = JSON.parse(v);
            ok =
              o !== null &&
              typeof o === "object" &&
              !Array.isArray(o) &&
              Object.keys(o).every(function (k) {
                return k.trim() !== "" && o[k] !== null && typeof o[k] === "object" && !Array.isArray(o[k]);
              });
          } catch (e) {
            ok = false;
          }
        }
        return verdict(this, opt, ok, "recipes");
      },
    };
  }

  /**
   * Says under a path field whether the file or folder is there, resolved as the runtime resolves
   * it (GET defect-detection/file-check); users who may not deploy get no hint. `messages` is the
   * node's catalogue prefix ("<type>.fileHint.").
   */
  function fileHint(node, field, messages, skip) {
    var input = $("#node-input-" + field);
    var hint = $('<div class="form-tips"></div>').css("margin-top", "6px").hide().appendTo(input.closest(".form-row"));
    var timer;
    function check() {
      var value = String(input.val() || "").trim();
      if (value === "" || (skip && skip(value))) {
        hint.hide();
        return;
      }
      $.getJSON("defect-detection/file-check", { path: value })
        .done(function (answer) {
          if (String(input.val() || "").trim() !== value) {
            return;
          }
          var state = answer.exists ? "found" : "missing";
          hint.text(node._(messages + state, { path: answer.path })).show();
        })
        .fail(function () {
          hint.hide();
        });
    }
    input.on("change keyup", function () {
      clearTimeout(timer);
      timer = setTimeout(check, 400);
    });
    check();
  }

  window.DefectDetectionEditor = { empty: empty, chosen: chosen, validators: validators, fileHint: fileHint };
})();
