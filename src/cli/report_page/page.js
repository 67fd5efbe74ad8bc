// Draws `pipe report`'s page from the runs' JSON above: plain SVG, no
// library, nothing fetched. Every chart element that stands for a run
// carries `data-run` (its index), so a row's checkbox can hide it.
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("runs-data").textContent);
  var runs = data.runs;
  var SVG = "http://www.w3.org/2000/svg";
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var CURVE_NAMES = { loss: "loss", accuracy: "accuracy", f1: "F1", auc: "ROC AUC", mae: "mean absolute error", rmse: "RMSE", r2: "R\u00b2", lr: "learning rate" };
  var SCORES = ["loss", "accuracy", "precision", "recall", "f1", "auc", "pr_auc", "log_loss", "mse", "mae", "rmse", "r2", "mape"];
  var METRICS_LOWER_BETTER = { train_loss: 1, val_loss: 1, best_val_loss: 1, train_mae: 1, val_mae: 1 };

  function color(i) { return COLORS[i % COLORS.length]; }

  function el(tag, attrs, parent, text) {
    var node = document.createElement(tag);
    setAll(node, attrs);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function svgEl(tag, attrs, parent, text) {
    var node = document.createElementNS(SVG, tag);
    setAll(node, attrs);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function setAll(node, attrs) {
    for (var key in attrs || {}) {
      if (attrs[key] !== undefined && attrs[key] !== null) node.setAttribute(key, attrs[key]);
    }
  }

  function isNum(x) { return typeof x === "number" && isFinite(x); }

  // A number in at most 4 significant digits.
  function fmt(x) {
    if (!isNum(x)) return "";
    if (x === Math.round(x) && Math.abs(x) < 1e6) return String(x);
    var a = Math.abs(x);
    if (a >= 1e-3 && a < 1e5) return String(Number(x.toPrecision(4)));
    return x.toExponential(2);
  }

  function duration(s) {
    if (!isNum(s)) return "";
    if (s < 10) return s.toPrecision(2) + " s";
    if (s < 60) return s.toFixed(1) + " s";
    return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
  }

  // About `count` round tick values covering [lo, hi].
  function ticks(lo, hi, count) {
    if (!(hi > lo)) return [lo];
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / count)));
    var err = (hi - lo) / count / step;
    if (err >= 7.5) step *= 10; else if (err >= 3.5) step *= 5; else if (err >= 1.5) step *= 2;
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
    return out;
  }

  // A scale from values to pixels: linear, log (every value positive and
  // spanning 20x or more) or by category (values that are no numbers).
  function scale(values, from, to) {
    var nums = values.map(Number);
    var numeric = values.length > 0 && values.every(function (v) { return v !== "" && v !== null && isFinite(Number(v)); });
    if (!numeric) {
      var cats = [];
      values.forEach(function (v) { if (cats.indexOf(String(v)) < 0) cats.push(String(v)); });
      // Each category in the middle of its own slot, so labels stay inside.
      var slot = (to - from) / cats.length;
      return { at: function (v) { return from + (cats.indexOf(String(v)) + 0.5) * slot; }, ticks: cats.map(function (c) { return { v: c, label: c }; }) };
    }
    var lo = Math.min.apply(null, nums), hi = Math.max.apply(null, nums);
    if (lo > 0 && hi / lo >= 20) {
      var l0 = Math.log10(lo), l1 = Math.log10(hi);
      var span = l1 - l0;
      var logTicks = [];
      for (var p = Math.ceil(l0); p <= Math.floor(l1); p++) logTicks.push({ v: Math.pow(10, p), label: "1e" + p });
      return { at: function (v) { return from + (Math.log10(Number(v)) - l0) / span * (to - from); }, ticks: logTicks };
    }
    if (hi - lo <= Math.abs(hi) * 1e-9) {
      // One value: a range around it on its own scale (0.01 is not drawn as 0).
      var around = Math.abs(lo) > 0 ? Math.abs(lo) * 0.5 : 0.5;
      lo -= around; hi += around;
    }
    var pad = (hi - lo) * 0.04;
    return linear(lo - pad, hi + pad, from, to);
  }

  // A linear scale from [lo, hi] to [from, to], with round ticks.
  function linear(lo, hi, from, to) {
    return {
      at: function (v) { return from + (Number(v) - lo) / (hi - lo) * (to - from); },
      ticks: ticks(lo, hi, 5).map(function (v) { return { v: v, label: fmt(v) }; })
    };
  }

  // An empty chart with axes: returns the SVG and the scales to draw with.
  function frame(parent, title, xs, ys, opts) {
    opts = opts || {};
    var W = 460, H = 300, L = 56, R = 12, T = 26, B = 38;
    var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, class: "chart", "data-chart": opts.id }, parent);
    svgEl("text", { x: L, y: 16, class: "title" }, svg, title);
    var x = opts.xScale || scale(xs, L, W - R);
    var y = opts.yScale || scale(ys, H - B, T);
    y.ticks.forEach(function (t) {
      var py = y.at(t.v);
      svgEl("line", { x1: L, x2: W - R, y1: py, y2: py, class: "gridline" }, svg);
      svgEl("text", { x: L - 6, y: py + 4, "text-anchor": "end" }, svg, t.label);
    });
    x.ticks.forEach(function (t) {
      var px = x.at(t.v);
      svgEl("line", { x1: px, x2: px, y1: H - B, y2: H - B + 4, class: "axis" }, svg);
      svgEl("text", { x: px, y: H - B + 16, "text-anchor": "middle" }, svg, t.label);
    });
    svgEl("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }, svg);
    svgEl("line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" }, svg);
    if (opts.xName) svgEl("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, svg, opts.xName);
    return { svg: svg, x: x, y: y };
  }

  function pathOf(points, c) {
    return points.map(function (p, i) { return (i ? "L" : "M") + c.x.at(p[0]).toFixed(1) + " " + c.y.at(p[1]).toFixed(1); }).join(" ");
  }

  // The epochs' (epoch, value) pairs of a series, finite values only.
  function pairs(series) {
    var out = [];
    (series || []).forEach(function (v, i) { if (isNum(v)) out.push([i + 1, v]); });
    return out;
  }

  // Summary line.
  function summary() {
    var items = [];
    runs.forEach(function (r) { if (items.indexOf(r.item) < 0) items.push(r.item); });
    var failed = runs.filter(function (r) { return r.status !== "finished"; }).length;
    document.getElementById("summary").textContent = runs.length + (runs.length === 1 ? " run" : " runs") + " of " +
      items.join(", ") + (failed ? " (" + failed + " not finished)" : "");
  }

  // The runs' table: a row per run, its checkbox toggling its curves.
  function table() {
    var settings = [], points = [], metrics = [];
    runs.forEach(function (r) {
      Object.keys(r.settings).forEach(function (k) { if (settings.indexOf(k) < 0) settings.push(k); });
      Object.keys(r.point).forEach(function (k) { if (points.indexOf(k) < 0) points.push(k); });
      Object.keys(r.metrics).forEach(function (k) { if (metrics.indexOf(k) < 0) metrics.push(k); });
    });
    var t = document.getElementById("runs");
    var head = el("tr", {}, el("thead", {}, t));
    var columns = [["", null], ["run", null], ["status", null], ["epochs run", "num"], ["kept epoch", "num"], ["time", "num"]]
      .concat(points.map(function (k) { return [k, "point"]; }))
      .concat(settings.map(function (k) { return [k, "setting"]; }))
      .concat(metrics.map(function (k) { return [k, "metric"]; }));
    columns.forEach(function (c, i) {
      var th = el("th", { title: c[1] === "point" ? "swept value" : null }, head, c[0]);
      if (i > 0) th.addEventListener("click", function () { sortBy(i); });
    });
    var body = el("tbody", {}, t);
    runs.forEach(function (r, i) {
      var tr = el("tr", { class: "run", "data-run": i }, body);
      var box = el("input", { type: "checkbox", "aria-label": "show " + r.name }, el("td", {}, tr));
      box.checked = true;
      box.addEventListener("change", function () { toggle(i, box.checked); });
      var name = el("td", { title: r.folder }, tr);
      el("span", { class: "swatch", style: "background:" + color(i) }, name);
      name.appendChild(document.createTextNode(r.name));
      el("td", { class: "status-" + r.status, title: r.reason || null }, tr, r.status);
      el("td", { class: "num" }, tr, String(r.epochs));
      el("td", { class: "num" }, tr, r.kept === null ? "" : String(r.kept));
      el("td", { class: "num", "data-sort": r.seconds }, tr, duration(r.seconds));
      points.forEach(function (k) { el("td", { class: "num" }, tr, r.point[k] === undefined ? "" : r.point[k]); });
      settings.forEach(function (k) { el("td", {}, tr, r.settings[k] === undefined ? "" : r.settings[k]); });
      metrics.forEach(function (k) {
        var v = r.metrics[k];
        el("td", { class: "num", "data-metric": k, "data-sort": v, title: isNum(v) ? String(v) : null }, tr, fmt(v));
      });
    });
    var ascending = {};
    function sortBy(col) {
      ascending[col] = !ascending[col];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col], y = b.cells[col];
        var xv = x.getAttribute("data-sort"), yv = y.getAttribute("data-sort");
        var xn = xv !== null ? Number(xv) : Number(x.textContent), yn = yv !== null ? Number(yv) : Number(y.textContent);
        var cmp = isFinite(xn) && isFinite(yn) && x.textContent !== "" && y.textContent !== "" ? xn - yn : x.textContent.localeCompare(y.textContent);
        return ascending[col] ? cmp : -cmp;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    }
  }

  function toggle(i, on) {
    document.querySelectorAll('[data-run="' + i + '"]').forEach(function (node) { node.classList.toggle("off", !on); });
  }

  // One chart per per-epoch number, every run's training and validation
  // lines overlaid.
  function curves() {
    var box = document.getElementById("curves");
    var names = Object.keys(CURVE_NAMES).filter(function (n) { return runs.some(function (r) { return r.curves[n]; }); });
    if (!names.length) { el("p", { class: "hint" }, box, "No run has finished epochs."); return; }
    names.forEach(function (name) {
      var xs = [], ys = [];
      runs.forEach(function (r) {
        var c = r.curves[name];
        if (!c) return;
        pairs(c.train).concat(pairs(c.val)).forEach(function (p) { xs.push(p[0]); ys.push(p[1]); });
      });
      if (!xs.length) return;
      var card = el("div", { class: "card" }, box);
      var ch = frame(card, CURVE_NAMES[name], [1, Math.max.apply(null, xs)], ys, { id: name, xName: "epoch", xScale: epochScale(xs) });
      runs.forEach(function (r, i) {
        var c = r.curves[name];
        if (!c) return;
        [["train", c.train], ["val", c.val]].forEach(function (s) {
          var pts = pairs(s[1]);
          if (!pts.length) return;
          var line = svgEl("path", { d: pathOf(pts, ch), class: "curve " + s[0], stroke: color(i), "data-run": i }, ch.svg);
          svgEl("title", {}, line, r.name + " \u00b7 " + (s[0] === "val" ? "validation" : "training"));
        });
        var kept = r.kept && (pairs(c.val).concat(pairs(c.train))).filter(function (p) { return p[0] === r.kept; })[0];
        if (kept) {
          var dot = svgEl("circle", { cx: ch.x.at(kept[0]), cy: ch.y.at(kept[1]), r: 3.5, fill: color(i), class: "kept", "data-run": i }, ch.svg);
          svgEl("title", {}, dot, r.name + ": kept epoch " + r.kept + " (" + fmt(kept[1]) + ")");
        }
      });
    });
  }

  // Whole-number epochs on a linear axis from 1.
  function epochScale(xs) {
    var last = Math.max(Math.max.apply(null, xs), 2);
    var s = linear(1, last, 56, 448);
    s.ticks = ticks(1, last, 6).filter(function (v) { return v === Math.round(v); }).map(function (v) { return { v: v, label: String(v) }; });
    return s;
  }

  // A sweep's points: parallel coordinates over the swept values and a
  // metric, and one value-against-metric scatter per swept value.
  function sweep() {
    var swept = runs.map(function (r, i) { return i; }).filter(function (i) { return Object.keys(runs[i].point).length > 0; });
    if (!swept.length) return;
    document.getElementById("sweep-section").hidden = false;
    var keys = [];
    swept.forEach(function (i) { Object.keys(runs[i].point).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); }); });
    var metricNames = [];
    swept.forEach(function (i) { Object.keys(runs[i].metrics).forEach(function (k) { if (metricNames.indexOf(k) < 0) metricNames.push(k); }); });
    var select = document.getElementById("metric");
    metricNames.forEach(function (m) { el("option", { value: m }, select, m); });
    select.value = metricNames.indexOf("best_val_loss") >= 0 ? "best_val_loss" : metricNames[0];
    select.addEventListener("change", draw);
    draw();

    function draw() {
      var metric = select.value;
      var par = document.getElementById("parallel"), sc = document.getElementById("scatter");
      par.textContent = ""; sc.textContent = "";
      var values = swept.map(function (i) { return runs[i].metrics[metric]; }).filter(isNum);
      var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
      function shade(v) {
        if (!isNum(v)) return "#afb8c1";
        var t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
        if (METRICS_LOWER_BETTER[metric]) t = 1 - t;
        // From dark blue (worse) to yellow (better).
        return "hsl(" + Math.round(240 - 180 * t) + ", 75%, " + Math.round(30 + 25 * t) + "%)";
      }
      var axes = keys.concat([metric]);
      var W = Math.max(480, 160 * axes.length), H = 320, T = 30, B = 40, L = 60, R = 60;
      var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, class: "chart", "data-chart": "parallel" }, par);
      var gap = axes.length > 1 ? (W - L - R) / (axes.length - 1) : 0;
      var scales = axes.map(function (k, a) {
        var vals = swept.map(function (i) { return a < keys.length ? runs[i].point[k] : runs[i].metrics[k]; }).filter(function (v) { return v !== undefined && v !== null; });
        var s = scale(vals.length ? vals : [0], H - B, T);
        var x = L + a * gap;
        svgEl("line", { x1: x, x2: x, y1: T, y2: H - B, class: "axis" }, svg);
        svgEl("text", { x: x, y: H - B + 18, "text-anchor": "middle", class: "title" }, svg, k);
        s.ticks.forEach(function (t) { svgEl("text", { x: x - 4, y: s.at(t.v) + 4, "text-anchor": "end" }, svg, t.label); });
        return s;
      });
      swept.forEach(function (i) {
        var r = runs[i];
        var pts = [];
        axes.forEach(function (k, a) {
          var v = a < keys.length ? r.point[k] : r.metrics[k];
          if (v !== undefined && v !== null) pts.push((L + a * gap).toFixed(1) + "," + scales[a].at(v).toFixed(1));
        });
        var line = svgEl("polyline", { points: pts.join(" "), class: "pc-line", stroke: shade(r.metrics[metric]), "data-run": i }, svg);
        svgEl("title", {}, line, r.name + ": " + metric + " " + fmt(r.metrics[metric]));
      });
      keys.forEach(function (k) {
        var xs = [], ys = [], idx = [];
        swept.forEach(function (i) {
          var v = runs[i].point[k], m = runs[i].metrics[metric];
          if (v !== undefined && isNum(m)) { xs.push(v); ys.push(m); idx.push(i); }
        });
        if (!xs.length) return;
        var card = el("div", { class: "card" }, sc);
        var ch = frame(card, metric + " by " + k, xs, ys, { id: "scatter-" + k, xName: k });
        xs.forEach(function (v, j) {
          var dot = svgEl("circle", { cx: ch.x.at(v), cy: ch.y.at(ys[j]), r: 4, fill: color(idx[j]), class: "dot", "data-run": idx[j] }, ch.svg);
          svgEl("title", {}, dot, runs[idx[j]].name + ": " + k + " " + v + ", " + metric + " " + fmt(ys[j]));
        });
      });
      // Keep what the table hides hidden after a redraw.
      document.querySelectorAll("tr.run.off").forEach(function (row) { toggle(row.getAttribute("data-run"), false); });
    }
  }

  // Each evaluation a run's folder holds: scores, confusion matrix, curves.
  function evaluations() {
    var box = document.getElementById("evaluations");
    var any = false;
    runs.forEach(function (r, i) {
      (r.evaluations || []).forEach(function (e) {
        any = true;
        var card = el("div", { class: "card evaluation-card", "data-evaluation": e.name }, box);
        var head = el("h3", {}, card);
        el("span", { class: "swatch", style: "background:" + color(i) }, head);
        head.appendChild(document.createTextNode(e.name + " \u00b7 " + r.name));
        var row = el("div", { class: "evaluation" }, card);
        var scores = el("table", { class: "scores" }, row);
        SCORES.forEach(function (s) {
          if (!isNum(e[s])) return;
          var tr = el("tr", {}, scores);
          el("th", {}, tr, s);
          el("td", { class: "num", "data-score": s, title: String(e[s]) }, tr, fmt(e[s]));
        });
        (e.top_k || []).forEach(function (pair) {
          var tr = el("tr", {}, scores);
          el("th", {}, tr, "top " + pair[0]);
          el("td", { class: "num" }, tr, fmt(pair[1]));
        });
        if (e.confusion) confusion(row, e.confusion, e.classes || []);
        (e.curves ? [["roc", "ROC", "false positive rate", true], ["pr", "precision-recall", "recall", false]] : []).forEach(function (kind) {
          var card2 = el("div", {}, row);
          var ch = frame(card2, kind[1], [0, 1], [0, 1], { id: kind[0], xName: kind[2], xScale: unit(56, 448), yScale: unit(262, 26) });
          if (kind[3]) svgEl("line", { x1: ch.x.at(0), y1: ch.y.at(0), x2: ch.x.at(1), y2: ch.y.at(1), class: "diagonal" }, ch.svg);
          e.curves.forEach(function (c, k) {
            var line = svgEl("path", { d: pathOf(c[kind[0]], ch), class: "eval-curve", stroke: color(k) }, ch.svg);
            svgEl("title", {}, line, String(c["class"]));
            svgEl("text", { x: 448, y: 40 + 14 * k, "text-anchor": "end", fill: color(k) }, ch.svg, String(c["class"]));
          });
        });
      });
    });
    document.getElementById("evaluations-section").hidden = !any;
  }

  function unit(from, to) {
    return { at: function (v) { return from + Number(v) * (to - from); }, ticks: [0, 0.25, 0.5, 0.75, 1].map(function (v) { return { v: v, label: String(v) }; }) };
  }

  // Rows: true classes; columns: predicted; cells shaded by their share of the row.
  function confusion(parent, matrix, classes) {
    var t = el("table", { class: "confusion" }, parent);
    var head = el("tr", {}, t);
    el("th", { class: "corner" }, head, "true \\ predicted");
    matrix.forEach(function (_, j) { el("th", {}, head, classes[j] !== undefined ? classes[j] : String(j)); });
    matrix.forEach(function (cells, i) {
      var tr = el("tr", {}, t);
      el("th", {}, tr, classes[i] !== undefined ? classes[i] : String(i));
      var total = cells.reduce(function (a, b) { return a + b; }, 0) || 1;
      cells.forEach(function (n) {
        var share = n / total;
        el("td", { style: "background: rgba(31, 119, 180, " + (0.08 + 0.72 * share).toFixed(2) + ")" + (share > 0.55 ? "; color: #fff" : ""), title: (100 * share).toFixed(1) + "% of the row" }, tr, String(n));
      });
    });
  }

  // A k-fold item's summary: a row per fold, then mean and std.
  function folds() {
    var box = document.getElementById("folds");
    (data.folds || []).forEach(function (f) {
      var card = el("div", { class: "card" }, box);
      el("h3", {}, card, f.item + " \u00b7 " + f.rows.filter(function (r) { return r[0] !== "mean" && r[0] !== "std"; }).length + " folds");
      var wrap = el("div", { class: "scroll" }, card);
      var t = el("table", { class: "folds", "data-item": f.item }, wrap);
      var head = el("tr", {}, el("thead", {}, t));
      f.columns.forEach(function (c) { el("th", {}, head, c); });
      var body = el("tbody", {}, t);
      f.rows.forEach(function (row) {
        var tr = el("tr", { class: row[0] === "mean" || row[0] === "std" ? "fold-" + row[0] : "fold" }, body);
        row.forEach(function (cell, i) {
          var n = Number(cell);
          el(i === 0 ? "th" : "td", { class: i > 0 ? "num" : null, title: cell || null }, tr, i > 2 && cell !== "" && isFinite(n) ? fmt(n) : cell);
        });
      });
    });
    document.getElementById("folds-section").hidden = !(data.folds || []).length;
  }

  summary();
  table();
  folds();
  curves();
  sweep();
  evaluations();
  document.body.setAttribute("data-rendered", "true");
  document.body.setAttribute("data-render-ms", performance.now().toFixed(1));
})();
