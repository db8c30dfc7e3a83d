// The desk view redraws itself from /console/api/desk every second (no reload).
"use strict";
(function () {
  var EVERY = 1000;

  function waited(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + " 秒";
    if (s < 3600) return Math.floor(s / 60) + " 分 " + (s % 60) + " 秒";
    return Math.floor(s / 3600) + " 小时 " + Math.floor((s % 3600) / 60) + " 分";
  }

  function cell(text, cls) {
    var td = document.createElement("td");
    if (text instanceof Node) td.appendChild(text); else td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function ticket(n) {
    var a = document.createElement("a");
    a.href = "/console/conversations/" + n;
    a.textContent = "#" + n;
    return a;
  }

  function fill(id, rows, columns, none) {
    var body = document.querySelector("#" + id + " tbody");
    var out = document.createDocumentFragment();
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      columns(r).forEach(function (td) { tr.appendChild(td); });
      out.appendChild(tr);
    });
    if (!rows.length && none) {
      var tr = document.createElement("tr");
      tr.className = "none";
      var td = cell(none);
      td.colSpan = body.parentNode.querySelectorAll("th").length;
      tr.appendChild(td);
      out.appendChild(tr);
    }
    body.replaceChildren(out);
  }

  function retry(id) {
    var form = document.getElementById("retry-form").content.firstElementChild.cloneNode(true);
    form.action = "/console/deadletters/" + id + "/retry";
    return form;
  }

  function draw(d) {
    document.querySelectorAll("#today [data-k]").forEach(function (el) {
      el.textContent = d.today[el.getAttribute("data-k")];
    });
    document.getElementById("waiting-count").textContent = d.waiting.length;
    fill("waiting", d.waiting, function (w) {
      return [cell(String(w.place)), cell(ticket(w.ticket)), cell(w.customer), cell(w.channel), cell(waited(w.waited))];
    }, "没有等待的客户");
    fill("agents", d.agents, function (a) {
      return [cell(a.name), cell(a.online ? "在线" : "离线", a.online ? "online" : "offline"),
              cell(a.load + "/" + a.capacity)];
    });
    var serving = [];
    d.agents.forEach(function (a) {
      a.conversations.forEach(function (c) { serving.push([a.name, c]); });
    });
    fill("serving", serving, function (p) {
      var c = p[1];
      return [cell(p[0]), cell(ticket(c.ticket)), cell(c.customer), cell(c.channel),
              cell(c.unanswered === null ? "已回复" : waited(c.unanswered), c.late ? "late" : "")];
    }, "没有进行中的会话");
    fill("dead", d.dead, function (x) {
      return [cell(String(x.id)), cell(x.when), cell(x.to), cell(x.text), cell(x.error), cell(retry(x.id))];
    }, "没有发送失败的消息");
    document.body.setAttribute("data-updated", String(d.now));
  }

  function poll() {
    fetch("/console/api/desk", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) { window.location = "/console/login"; throw new Error("logged out"); }
        return r.json();
      })
      .then(draw)
      .catch(function () {})
      .then(function () { setTimeout(poll, EVERY); });
  }
  setTimeout(poll, EVERY);
})();
