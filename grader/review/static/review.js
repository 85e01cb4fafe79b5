// LaTeX in answers and questions: the page holds the TeX source (escaped), KaTeX draws it. A formula KaTeX
// cannot read stays as its source; \href and the like stay off (KaTeX's trust is false).
document.querySelectorAll(".math").forEach((element) => {
  if (window.katex) {
    katex.render(element.textContent.trim(), element, {displayMode: element.classList.contains("block"), throwOnError: false});
  }
});

// Keyboard shortcuts of the queue page; every action is also a plain button or link.
(function () {
  const form = document.querySelector("form[data-shortcuts]");
  if (!form) return;
  const points = form.querySelector("#points");
  const comment = form.querySelector("#comment");
  const steps = Array.from(form.querySelectorAll("button.step"));

  function choose(step) {
    steps.forEach((other) => other.setAttribute("aria-pressed", String(other === step)));
    points.value = step.dataset.points;
  }
  steps.forEach((step) => step.addEventListener("click", () => choose(step)));

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.metaKey) return;
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
    if (typing) {
      if (event.key === "Escape") document.activeElement.blur();
      else if (event.key === "Enter" && event.ctrlKey) { event.preventDefault(); form.requestSubmit(); }
      return;  // a plain Enter in the points box submits the form by itself
    }
    if (event.ctrlKey) return;
    const step = steps.find((candidate) => candidate.dataset.key === event.key);
    if (step) { event.preventDefault(); choose(step); return; }
    if (event.key === "Enter") { event.preventDefault(); form.requestSubmit(); }
    else if (event.key === "j" && form.dataset.next) window.location = form.dataset.next;
    else if (event.key === "k" && form.dataset.previous) window.location = form.dataset.previous;
    else if (event.key === "c") { event.preventDefault(); comment.focus(); }
  });
})();
