// Plateau console: live pages. The server pushes the page's new render
// (Server-Sent Events); the parts marked data-live are swapped in place,
// so forms being filled in are left alone. No other script runs.
for (const page of document.querySelectorAll("[data-stream]")) {
  const events = new EventSource(page.dataset.stream);
  events.onmessage = (message) => {
    const next = document.createElement("template");
    next.innerHTML = message.data;
    for (const part of next.content.querySelectorAll("[data-live][id]")) {
      const here = document.getElementById(part.id);
      if (here && here.innerHTML !== part.innerHTML) {
        here.innerHTML = part.innerHTML;
      }
    }
    document.body.dataset.updated = new Date().toISOString();
  };
}
