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

  // The key a shortcut names. With a Korean keyboard in Hangul mode `event.key` is a jamo ("ㅓ" for j) or
  // "Process", and on AZERTY the digit row gives "&", "é", …: there the physical key (`event.code`) says which
  // it is. A Latin letter or digit is taken as the key says, so other Latin layouts (Dvorak) keep their labels.
  function shortcut(event) {
    if (/^[a-z0-9-]$/.test(event.key)) return event.key;
    const code = /^(?:Key([A-Z])|Digit([0-9])|Numpad([0-9]))$/.exec(event.code);
    if (code) return (code[1] || "").toLowerCase() || code[2] || code[3];
    if (event.code === "Minus" || event.code === "NumpadSubtract") return "-";
    return event.key;  // Enter, Escape: the same in every layout
  }

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.metaKey || event.isComposing) return;  // a key that composes Hangul is the IME's
    const key = shortcut(event);
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
    if (typing) {
      if (key === "Escape") document.activeElement.blur();
      else if (key === "Enter" && event.ctrlKey) { event.preventDefault(); form.requestSubmit(); }
      return;  // a plain Enter in the points box submits the form by itself
    }
    if (event.ctrlKey) return;
    const step = steps.find((candidate) => candidate.dataset.key === key);
    if (step) { event.preventDefault(); choose(step); return; }
    if (key === "Enter" && document.activeElement.matches("a, summary, button:not(.step)")) return;  // its own
    if (key === "Enter") { event.preventDefault(); form.requestSubmit(); }
    else if (key === "j" && form.dataset.next) window.location = form.dataset.next;
    else if (key === "k" && form.dataset.previous) window.location = form.dataset.previous;
    else if (key === "c") { event.preventDefault(); comment.focus(); }
  });
})();
