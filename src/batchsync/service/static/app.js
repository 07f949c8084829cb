// Live progress without a build step: every element with data-poll asks the API for its run once a
// second (the session cookie authenticates the GET) and moves its bar; a page holding
// data-reload-when-idle reloads once the run it watches has ended, to show the final figures.
"use strict";

async function readJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  return response.ok ? response.json() : null;
}

function updateBar(element, run) {
  const progress = run.progress || run;
  const total = progress.total_expected;
  const done = progress.pass_records || progress.records || 0;
  const bar = element.querySelector('[data-field="bar"]');
  if (bar && total) {
    bar.classList.remove("unknown");
    bar.style.width = Math.min(100, (100 * done) / total).toFixed(1) + "%";
  }
  const text = element.parentElement.querySelector('[data-field="progress-text"]');
  if (text && progress.records !== undefined) {
    const eta = progress.eta_seconds != null ? ` · about ${Math.round(progress.eta_seconds)}s left` : "";
    const of = total ? ` of ${total.toLocaleString()}` : "";
    text.textContent = `${progress.records.toLocaleString()} records${of} · ${progress.rate_per_second}/s${eta}`;
  }
  for (const field of ["created", "updated", "unchanged", "pages", "api_calls"]) {
    const shown = document.querySelector(`dd[data-field="${field}"]`);
    if (shown && run[field] !== undefined) shown.textContent = run[field].toLocaleString();
  }
}

function isRunning(found) {
  if (!found) return false;
  if (Array.isArray(found.items)) return found.items.some((pipeline) => pipeline.running);
  return ["running", "queued", "starting"].includes(found.status);
}

function poll() {
  for (const element of document.querySelectorAll("[data-poll]")) {
    readJson(element.dataset.poll).then((run) => run && updateBar(element, run));
  }
  for (const element of document.querySelectorAll("[data-reload-when-idle]")) {
    readJson(element.dataset.reloadWhenIdle).then((found) => {
      if (found && !isRunning(found)) window.location.reload();
    });
  }
}

document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

if (document.querySelector("[data-poll], [data-reload-when-idle]")) setInterval(poll, 1000);
