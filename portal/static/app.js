// Starts GOV.UK Frontend's components (loaded as a module; the CSP allows only our own scripts).
import { initAll } from "./govuk/govuk-frontend.min.js";

initAll();

// Pages about a background job mark <main data-poll-ms>: fetch the page again and replace
// <main> in place until the job has finished, so progress shows without a timed reload.
// Focus stays where it is; the status text is announced through a polite live region.
const main = document.querySelector("main[data-poll-ms]");
if (main) {
  const interval = Number(main.dataset.pollMs) || 2000;
  const live = document.createElement("div");
  live.className = "govuk-visually-hidden";
  live.setAttribute("aria-live", "polite");
  document.body.appendChild(live);
  const poll = async () => {
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      if (!response.ok) return setTimeout(poll, interval * 2);
      const next = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = next.querySelector("main");
      if (!fresh) return;
      const changed = fresh.innerHTML !== main.innerHTML;
      if (changed) {
        main.innerHTML = fresh.innerHTML;
        document.title = next.title;
        const tag = main.querySelector(".govuk-tag");
        if (tag) live.textContent = tag.textContent;
        initAll({ scope: main });
      }
      if (fresh.hasAttribute("data-poll-ms")) setTimeout(poll, interval);
      else main.removeAttribute("data-poll-ms");
    } catch (error) {
      setTimeout(poll, interval * 2);
    }
  };
  setTimeout(poll, interval);
}
