// 撰写: the title's length against each channel's limit, while typing (the server enforces them on save).
document.addEventListener("DOMContentLoaded", () => {
  const title = document.getElementById("title");
  const count = document.getElementById("title-count");
  if (!title || !count) return;
  const limits = JSON.parse(title.dataset.limits || "{}");
  const update = () => {
    const n = Array.from(title.value).length;
    const parts = [`${n} 字`];
    for (const [channel, max] of Object.entries(limits)) {
      if (max) parts.push(`${channel} 最多 ${max} 字${n > max ? "（超出）" : ""}`);
    }
    count.textContent = parts.join("；");
    count.classList.toggle("over", Object.values(limits).some((max) => max && n > max));
  };
  title.addEventListener("input", update);
  update();
});
