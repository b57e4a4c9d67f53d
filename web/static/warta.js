// Warta web: photo order by drag or by buttons, and the Mini App's sign-in. No framework,
// no inline script (the Content-Security-Policy forbids it).
"use strict";

function photoOrder() {
  const list = document.getElementById("photos");
  const field = document.getElementById("order");
  if (!list || !field) return;
  const save = () => {
    field.value = [...list.children].map((li) => li.dataset.media).join(",");
  };
  list.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const row = button.closest("li");
    if (button.classList.contains("up") && row.previousElementSibling) {
      list.insertBefore(row, row.previousElementSibling);
    } else if (button.classList.contains("down") && row.nextElementSibling) {
      list.insertBefore(row.nextElementSibling, row);
    }
    save();
  });
  let dragged = null;
  list.addEventListener("dragstart", (event) => {
    dragged = event.target.closest("li");
    dragged.classList.add("dragging");
  });
  list.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
    save();
  });
  list.addEventListener("dragover", (event) => {
    event.preventDefault();
    const over = event.target.closest("li");
    if (!dragged || !over || over === dragged) return;
    const box = over.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    list.insertBefore(dragged, after ? over.nextElementSibling : over);
  });
}

function miniAppSignIn() {
  const page = document.getElementById("miniapp");
  if (!page) return;
  // Telegram opens a Mini App with its signed data in the URL fragment (tgWebAppData).
  const fragment = new URLSearchParams(location.hash.slice(1));
  const initData = fragment.get("tgWebAppData") || "";
  // A card's button names its item in the address (?item=7), a t.me link in start_param.
  const item = new URLSearchParams(location.search).get("item");
  const start = fragment.get("tgWebAppStartParam") || (item ? `item-${item}` : "");
  const body = new URLSearchParams({ init_data: initData, start });
  fetch("/miniapp", { method: "POST", body, credentials: "same-origin" })
    .then((answer) => answer.json().then((data) => ({ ok: answer.ok, data })))
    .then(({ ok, data }) => {
      if (ok) { location.replace(data.next); return; }
      const error = document.getElementById("miniapp-error");
      error.textContent = data.error;
      error.hidden = false;
    });
}

document.addEventListener("DOMContentLoaded", () => {
  photoOrder();
  miniAppSignIn();
});
