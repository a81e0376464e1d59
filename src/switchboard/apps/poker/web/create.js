// Create a room: a name, a deck (from the server's list), a sub-range of it or the
// moderator's own cards, an optional N/A card. POST /api/rooms answers with the room
// code and the creator's seat token, which is kept in localStorage.

import { $, api, el, nameProblem, prefs, seats, themeSelect } from "./common.js";

themeSelect($("theme"));

const name = $("name");
const from = $("range-from");
const to = $("range-to");
const custom = $("custom");
const noVote = $("no-vote");
let decks = [];
let limits = { name: 20 };

name.value = prefs.name;

function chosen() {
  const input = document.querySelector("input[name=deck]:checked");
  return decks.find((deck) => deck.kind === input?.value) ?? decks[0];
}

function customCards() {
  return custom.value.split(",").map((card) => card.trim()).filter((card) => card);
}

/** The deck choice as the server takes it, and the cards it makes. */
function choice() {
  const deck = chosen();
  const sent = { kind: deck.kind, no_vote: deck.no_vote && noVote.checked };
  let cards = deck.cards;
  if (deck.ranged) {
    sent.range = [Number(from.value), Number(to.value)];
    cards = deck.cards.slice(sent.range[0], sent.range[1] + 1);
  } else if (deck.kind === "custom") {
    sent.custom = customCards();
    cards = sent.custom;
  }
  return { sent, cards: sent.no_vote ? ["N/A", ...cards] : cards };
}

function render() {
  const deck = chosen();
  $("range-set").hidden = !deck.ranged;
  $("custom-set").hidden = deck.kind !== "custom";
  noVote.disabled = !deck.no_vote;
  if (!deck.no_vote) noVote.checked = false;
  noVote.parentElement.classList.toggle("disabled", !deck.no_vote);
  // At least one step between the two ends.
  for (const option of to.options) option.disabled = Number(option.value) <= Number(from.value);
  for (const option of from.options) option.disabled = Number(option.value) >= Number(to.value);
  const { cards } = choice();
  $("preview").replaceChildren(
    ...cards.map((card) =>
      el("li", { className: card === "N/A" ? "card small no-vote" : "card small" }, card === "N/A" ? "N/A" : card),
    ),
  );
  if (!cards.length) $("preview").append(el("li", { className: "hint" }, "Type your cards above."));
}

function fillRange(deck) {
  const options = (select) =>
    select.replaceChildren(...deck.cards.map((card, i) => el("option", { value: String(i) }, card)));
  options(from);
  options(to);
  const [low, high] = deck.default_range ?? [0, deck.cards.length - 1];
  from.value = String(low);
  to.value = String(high);
}

async function load() {
  const answer = await api("GET", "/api/decks");
  decks = answer.decks;
  limits = answer.limits;
  $("decks").append(
    ...decks.map((deck, i) =>
      el(
        "label",
        { className: "check deck-choice" },
        el("input", { type: "radio", name: "deck", value: deck.kind, checked: i === 0 }),
        el("span", {}, deck.label),
        el("span", { className: "hint" }, deck.cards.length ? deck.cards.join(" · ") : "type your own cards"),
      ),
    ),
  );
  fillRange(decks[0]);
  for (const input of document.querySelectorAll("input[name=deck]")) {
    input.addEventListener("change", () => {
      if (chosen().ranged) fillRange(chosen());
      render();
      if (chosen().kind === "custom") custom.focus();
    });
  }
  render();
}

for (const input of [from, to, custom, noVote]) input.addEventListener("input", render);

$("create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const problem = nameProblem(name.value, limits.name);
  $("name-error").textContent = problem;
  name.setAttribute("aria-invalid", String(Boolean(problem)));
  $("create-error").textContent = "";
  if (problem) {
    name.focus();
    return;
  }
  const button = $("create-button");
  button.disabled = true;
  try {
    const room = await api("POST", "/api/rooms", {
      name: name.value,
      deck: choice().sent,
      spectator: $("spectator").checked,
    });
    prefs.name = name.value.trim();
    seats.set(room.code, { token: room.token, seat: room.seat, name: room.name });
    location.assign(`room.html?code=${room.code}`);
  } catch (error) {
    $("create-error").textContent = error.message;
    button.disabled = false;
  }
});

load().catch((error) => {
  $("create-error").textContent = `Could not load the decks: ${error.message}`;
});
