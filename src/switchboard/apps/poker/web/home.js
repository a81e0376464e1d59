// The home page: four boxes for a room code (typing moves on, Backspace moves back,
// a pasted code fills them all); once four letters are in, the server is asked
// whether the room exists (GET /api/rooms/CODE, rate-limited per address).

import { $, api, CODE, el, seats, themeSelect } from "./common.js";

themeSelect($("theme"));

const boxes = [0, 1, 2, 3].map((i) => $(`c${i}`));
const error = $("join-error");
let checking = "";

const code = () => boxes.map((box) => box.value).join("");

function fill(text, from = 0) {
  const letters = text.toUpperCase().replace(/[^A-Z]/g, "").slice(0, 4 - from);
  [...letters].forEach((letter, i) => {
    boxes[from + i].value = letter;
  });
  const next = Math.min(from + letters.length, 3);
  boxes[next].focus();
  if (code().length === 4) check();
}

boxes.forEach((box, i) => {
  box.addEventListener("input", () => {
    error.textContent = "";
    const typed = box.value;
    box.value = "";
    fill(typed, i);
  });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Backspace" && !box.value && i > 0) {
      boxes[i - 1].value = "";
      boxes[i - 1].focus();
      event.preventDefault();
    } else if (event.key === "ArrowLeft" && i > 0) {
      boxes[i - 1].focus();
      event.preventDefault();
    } else if (event.key === "ArrowRight" && i < 3) {
      boxes[i + 1].focus();
      event.preventDefault();
    }
  });
  box.addEventListener("paste", (event) => {
    event.preventDefault();
    fill(event.clipboardData?.getData("text") ?? "", i);
  });
  box.addEventListener("focus", () => box.select());
});

async function check() {
  const wanted = code();
  if (!CODE.test(wanted)) {
    error.textContent = "A room code is four letters.";
    boxes[Math.min(wanted.length, 3)].focus();
    return;
  }
  if (checking === wanted) return;
  checking = wanted;
  error.textContent = "";
  try {
    await api("GET", `/api/rooms/${wanted}`);
    location.assign(`room.html?code=${wanted}`);
  } catch (failure) {
    checking = "";
    error.textContent =
      failure.status === 404 ? "A room does not exist with that code. Try again." : failure.message;
  }
}

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  check();
});

// The rooms this browser has a seat in: one click back in.
const mine = seats.codes();
if (mine.length) {
  $("mine-list").replaceChildren(
    ...mine.slice(0, 8).map(({ code: room, name }) =>
      el("li", {}, el("a", { href: `room.html?code=${room}` }, room), name ? ` as ${name}` : ""),
    ),
  );
  $("mine").hidden = false;
}
boxes[0].focus();
