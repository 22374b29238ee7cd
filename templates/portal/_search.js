// 站内搜索: reads the prebuilt index beside the pages (search/index.json, then search/YYYY-MM.json, newest
// month first) and matches every word of the query in the title, 文号 or 索引号. No server, no other origin.
"use strict";
(function () {
  var LIMIT = 200;
  var status = document.getElementById("status");
  var list = document.getElementById("results");
  var input = document.getElementById("q");
  var query = new URLSearchParams(location.search).get("q") || "";
  input.value = query;
  function fold(text) {  // 〔2024〕, [2024], ［2024］ and (2024) match one another; case does not matter
    return text.toLowerCase().replace(/[\[［【〔(（]/g, "〔").replace(/[\]］】〕)）]/g, "〕");
  }
  var terms = fold(query).split(/\s+/).filter(Boolean);
  if (!terms.length) { status.textContent = "请输入标题、文号或索引号中的词。"; return; }
  function show(row) {
    var item = document.createElement("li");
    var link = document.createElement("a");
    link.href = row[0];
    link.textContent = row[1];
    var meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = " " + [row[4], row[5], row[2], "索引号：" + row[3]].filter(Boolean).join(" · ");
    item.appendChild(link);
    item.appendChild(meta);
    list.appendChild(item);
  }
  function load(path) {
    return fetch(path).then(function (response) {
      if (!response.ok) { throw new Error(path + ": " + response.status); }
      return response.json();
    });
  }
  status.textContent = "正在检索……";
  var found = 0;
  load("search/index.json").then(function (manifest) {
    var files = manifest.months.map(function (month) { return load("search/" + month + ".json"); });
    files.forEach(function (file) { file.catch(function () {}); });  // a failure is reported once, below
    return files.reduce(function (previous, file) {  // fetched together, read newest first
      return previous.then(function () {
        return file.then(function (rows) {
          rows.forEach(function (row) {
            var text = fold(row[1] + " " + row[2] + " " + row[3]);
            if (terms.every(function (term) { return text.indexOf(term) >= 0; })) {
              found += 1;
              if (found <= LIMIT) { show(row); }
            }
          });
          status.textContent = "正在检索……已找到 " + found + " 条";
        });
      });
    }, Promise.resolve());
  }).then(function () {
    status.textContent = found === 0 ? "没有找到与“" + query + "”相符的信息。"
      : "找到 " + found + " 条" + (found > LIMIT ? "，显示最新的 " + LIMIT + " 条，请增加检索词" : "") + "。";
  }).catch(function () {
    status.textContent = "检索索引暂时无法读取，请稍后再试，或从首页按主题分类浏览。";
  });
})();
