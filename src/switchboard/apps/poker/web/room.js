// The room: the table, the cards, the moderator's controls and the rounds history,
// over the real-time hub (one WebSocket, switchboard.v1), with the hub's browser
// client served by the hub itself at /rt/client.js.
//
// - Who I am: the seat token this browser keeps for the room (localStorage, so
//   every tab of mine is the same seat) is the `auth` of each connection attempt.
//   The server never sends anyone's token; the room knows seats by their ids.
// - What I see: `poker.state` is the room's whole view, numbered (`v`); a page keeps
//   the highest. While voting it says who has voted, never a card. My own card
//   comes to me alone (`poker.you`, and the vote's ack). After every (re)join, such
//   as after a server restart, the page asks for both again (`poker.sync`).
// - Reconnecting is the client's job; the badge shows its state and reconnects at
//   once when pressed.

import { connect } from "/rt/client.js";
import { $, api, CODE, el, linkify, nameProblem, prefs, seats, themeSelect } from "./common.js";

const code = (new URLSearchParams(location.search).get("code") ?? "").trim().toUpperCase();
if (!CODE.test(code)) location.replace("/");

// Symbols that every font with DejaVu-like coverage has (no colour emoji needed).
const CONFIDENCE = { high: "●●●", medium: "●●○", low: "●○○" };
const BADGE = {
  connecting: "connecting…",
  connected: "connected",
  reconnecting: "reconnecting…",
  disconnected: "offline",
  failed: "offline",
};
const badge = $("status");
const notice = $("notice");

let hub = null;
let state = null; // the room's view, the highest `v` seen
let mine = null; // my own seat's view (my card)
let roundsShown = -1; // how many rounds the history list shows
let roundsLoading = false;
let describing = false; // the moderator is editing the description: keep their text
let handDeck = ""; // the deck the card buttons were built for
let ended = false; // kicked, left or gone: nothing more to do

document.title = `Room ${code} · Planning poker`;
$("code").textContent = code;
$("code").setAttribute("aria-label", `Room code ${[...code].join(" ")}. Copy the link to this room`);
themeSelect($("theme"));

function say(message) {
  notice.textContent = message;
}

function show(view) {
  for (const id of ["join", "gone", "table"]) $(id).hidden = id !== view;
  $("settings-open").hidden = view !== "table";
  badge.hidden = view === "join"; // no connection before joining
}

// -- joining ------------------------------------------------------------------------

async function showJoin() {
  show("join");
  const name = $("join-name");
  name.value = prefs.name;
  name.focus();
  try {
    const room = await api("GET", `/api/rooms/${code}`);
    const people = room.people === 1 ? "1 person is" : `${room.people} people are`;
    $("join-title").textContent = `Join room ${code}`;
    $("join-about").textContent = `${room.deck.label} deck. ${people} in this room.`;
  } catch (error) {
    if (error.status === 404) gone("There is no such room", "A room does not exist with that code.");
    else $("join-error").textContent = error.message;
  }
}

$("join-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("join-name");
  const problem = nameProblem(name.value);
  $("join-error").textContent = problem;
  name.setAttribute("aria-invalid", String(Boolean(problem)));
  if (problem) {
    name.focus();
    return;
  }
  $("join-button").disabled = true;
  try {
    const seat = await api("POST", `/api/rooms/${code}/seats`, {
      name: name.value,
      spectator: $("join-spectator").checked,
    });
    prefs.name = name.value.trim();
    seats.set(code, { token: seat.token, seat: seat.seat, name: seat.name });
    start();
  } catch (error) {
    $("join-error").textContent = error.message;
    if (error.status === 404) gone("There is no such room", "A room does not exist with that code.");
  } finally {
    $("join-button").disabled = false;
  }
});

function gone(title, text, rejoin = false) {
  ended = true;
  hub?.close();
  show("gone");
  $("gone-title").textContent = title;
  $("gone-text").textContent = text;
  const again = $("gone-rejoin");
  again.hidden = !rejoin;
  again.href = `room.html?code=${code}`;
  showBadge("disconnected");
  $("gone-title").tabIndex = -1;
  $("gone-title").focus();
}

/** My seat is no more: I was removed, or I left (from this tab or another). */
function removed(how) {
  if (ended) return;
  seats.remove(code);
  if (how === "kicked") {
    gone("You were removed from the room", "The moderator removed you. You can join again with the room code.", true);
  } else {
    gone("You left the room", "Your seat is gone. You can join again with the room code.", true);
  }
}

// -- the connection -----------------------------------------------------------------

function start() {
  show("table");
  hub = connect("/rt", { auth: () => ({ room: code, seat: seats.get(code)?.token ?? "" }) });
  hub.onState(onState);
  hub.onRoom((change) => {
    if (change.type === "joined") sync();
  });
  hub.on("poker.state", (view) => apply(view));
  hub.on("poker.you", (view) => applyMine(view));
  hub.on("poker.kicked", () => removed("kicked"));
  hub.on("poker.left", () => removed("left"));
  hub.onPresence(`poker:${code}`, () => render());
  showBadge(hub.state);
}

function showBadge(hubState) {
  const offline = navigator.onLine === false || hubState === "disconnected" || hubState === "failed";
  badge.textContent = offline ? "offline" : BADGE[hubState];
  badge.dataset.state = offline ? "offline" : hubState;
  $("table").dataset.stale = String(hubState !== "connected");
}

let lostSaid = false;
function onState(hubState, info) {
  showBadge(hubState);
  if (hubState === "connected" && lostSaid) {
    lostSaid = false;
    say("Reconnected.");
  } else if (hubState === "reconnecting" && !lostSaid && state) {
    lostSaid = true;
    say("Connection lost: reconnecting… Your seat and your card are kept.");
  } else if (hubState === "failed") {
    const reason = info.reason ?? "";
    if (info.code === 4403) removed("kicked");
    else if (info.code === 4410) removed("left");
    else if (info.code === 4404 || reason.includes("no_seat")) {
      seats.remove(code);
      gone("You are not in this room any more", "Your seat is gone. You can join again.", true);
    } else if (reason.includes("no_room")) {
      seats.remove(code);
      gone("This room is gone", "It expired, or everyone left. Start a new one from the home page.");
    } else {
      say(`The server refused the connection (${reason || info.code}). Press the badge to try again.`);
    }
  }
}
badge.addEventListener("click", () => {
  if (hub && !ended) hub.reconnect();
});
window.addEventListener("online", () => showBadge(hub?.state ?? "connecting"));
window.addEventListener("offline", () => showBadge(hub?.state ?? "connecting"));

async function sync() {
  try {
    const answer = await hub.emit("poker.sync");
    apply(answer.state);
    applyMine(answer.you);
  } catch (error) {
    if (!ended) say(`Could not load the room: ${explain(error)}`);
  }
}

function explain(error) {
  switch (error.code) {
    case "rate_limited":
      return `Too fast: try again in ${(error.retryAfter ?? 1).toFixed(1)} s.`;
    case "timeout":
      return "No answer from the server in time.";
    case "closed":
      return "Not connected.";
    default:
      return error.message;
  }
}

async function send(event, data) {
  try {
    return await hub.emit(event, data);
  } catch (error) {
    say(explain(error));
    return null;
  }
}

function apply(view) {
  if (ended || (state && view.v <= state.v)) return;
  const before = state;
  state = view;
  if (before) announce(before, view);
  render();
}

function applyMine(view) {
  if (ended || !view || (mine && view.v < mine.v)) return;
  mine = view;
  render();
}

function me() {
  return mine?.seat ?? seats.get(code)?.seat;
}

function nameOf(id) {
  return state.seats.find((seat) => seat.id === id)?.name ?? "someone";
}

/** Say what changed, for everyone (and screen readers: the notice is a live region). */
function announce(before, after) {
  if (after.phase === "voting" && (before.phase !== "voting" || before.round !== after.round)) {
    const seat = after.seats.find((s) => s.id === me());
    say(seat && !seat.spectator ? `Round ${after.round}: voting has started. Pick a card.` : `Round ${after.round}: voting has started.`);
  } else if (after.phase === "revealed" && before.phase === "voting") {
    say(`Round ${after.round}: the cards are revealed.`);
  } else if (after.moderator !== before.moderator && after.moderator) {
    say(after.moderator === me() ? "You are now the moderator." : `${nameOf(after.moderator)} is now the moderator.`);
  }
}

// -- rendering ------------------------------------------------------------------------

function render() {
  if (!state || ended) return;
  const myId = me();
  const myself = state.seats.find((seat) => seat.id === myId);
  const moderator = state.moderator === myId;
  renderDescription(moderator);
  renderControls(moderator);
  renderHand(myself);
  renderSeats(myId, moderator);
  renderResults();
  renderRounds();
}

function renderDescription(moderator) {
  const text = state.description;
  const shown = $("description");
  if (text) shown.replaceChildren(linkify(text));
  else shown.replaceChildren(el("span", { className: "hint" }, moderator ? "Nothing yet: describe the next round below." : "Nothing yet."));
  const form = $("describe-form");
  form.hidden = !moderator || state.phase === "voting";
  if (!describing) $("describe-text").value = text;
  countDescription();
}

function countDescription() {
  const length = [...$("describe-text").value].length;
  const count = $("describe-count");
  count.textContent = `${length} / 1000`;
  count.classList.toggle("over", length > 1000);
}

function renderControls(moderator) {
  $("controls").hidden = !moderator;
  const voting = state.phase === "voting";
  const startButton = $("start");
  startButton.hidden = voting;
  startButton.textContent = state.phase === "revealed" ? "Start the next round" : "Start voting";
  startButton.disabled = !state.seats.some((seat) => !seat.spectator);
  const voters = state.seats.filter((seat) => !seat.spectator && (seat.present || seat.voted));
  const voted = voters.filter((seat) => seat.voted).length;
  $("reveal").hidden = !voting;
  $("reveal").textContent = `Reveal cards (${voted} of ${voters.length} voted)`;
}

function renderHand(myself) {
  const hand = $("hand");
  hand.hidden = state.phase !== "voting" || !myself || myself.spectator;
  if (hand.hidden) return;
  const cards = $("cards");
  const deckKey = state.deck.options.join("\u0000");
  if (handDeck !== deckKey) {
    handDeck = deckKey;
    cards.replaceChildren(
      ...state.deck.options.map((card) =>
        el(
          "button",
          {
            type: "button",
            className: card === "N/A" ? "card no-vote" : "card",
            dataset: { card },
            "aria-label": card === "N/A" ? "N/A: I can’t estimate this" : `Card ${card}`,
            "aria-pressed": "false",
          },
          card,
        ),
      ),
    );
  }
  const chosen = mine && mine.round === state.round ? mine.vote : null;
  for (const button of cards.children) {
    button.setAttribute("aria-pressed", String(button.dataset.card === chosen));
  }
  $("hand-title").textContent = chosen === null ? "Make a selection" : `Your card: ${chosen}`;
  $("hand-hint").textContent =
    chosen === null
      ? "Nobody sees your card until the moderator reveals them all."
      : "Got it! You can change your mind until the reveal. Otherwise sit tight.";
}

$("cards").addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-card]");
  if (!button || !state) return;
  const answer = await send("poker.vote", { round: state.round, card: button.dataset.card });
  if (answer) applyMine(answer);
});

/** Present for the server (within its grace period) but without a connection now. */
function lost(seat) {
  if (!seat.present || hub?.state !== "connected") return false;
  const members = hub.presence(`poker:${code}`);
  return members.has(me()) && !members.has(seat.id);
}

function renderSeats(myId, moderator) {
  $("actions-head").hidden = !moderator;
  const rows = state.seats.map((seat) => {
    const nameCell = el(
      "th",
      { scope: "row" },
      seat.moderator ? el("span", { className: "crown", "aria-label": "moderator:", role: "img" }, "♛") : null,
      el("span", { className: "name" }, seat.name),
      seat.id === myId ? el("span", { className: "tag you" }, "you") : null,
      seat.spectator ? el("span", { className: "tag" }, "watching") : null,
      !seat.present ? el("span", { className: "tag away" }, "away") : null,
      lost(seat) ? el("span", { className: "tag lost" }, "reconnecting…") : null,
    );
    const row = el(
      "tr",
      { dataset: { seat: seat.id }, className: seat.present ? "" : "away" },
      nameCell,
      el("td", { className: "vote" }, ...voteCell(seat)),
      el("td", { className: "confidence" }, ...confidenceCell(seat)),
    );
    if (moderator) {
      const actions = el("td", { className: "actions" });
      if (seat.id !== myId) {
        actions.append(
          el("button", {
            type: "button",
            className: "small ghost",
            dataset: { action: "hand_over", seat: seat.id },
            disabled: !seat.present,
            "aria-label": `Make ${seat.name} the moderator`,
            textContent: "Make moderator",
          }),
          el("button", {
            type: "button",
            className: "small danger",
            dataset: { action: "kick", seat: seat.id },
            "aria-label": `Remove ${seat.name} from the room`,
            textContent: "Remove",
          }),
        );
      }
      row.append(actions);
    }
    return row;
  });
  $("seats").replaceChildren(...rows);
  const mod = state.seats.find((seat) => seat.id === state.moderator);
  $("moderator-line").replaceChildren(
    el("span", { className: "crown", "aria-hidden": "true" }, "♛ "),
    !mod
      ? "Nobody moderates right now."
      : mod.id === myId
        ? el("span", {}, el("strong", {}, "You"), " are the moderator.")
        : el("span", {}, el("strong", {}, mod.name), mod.present ? " is the moderator." : " is the moderator (away)."),
  );
  $("table-foot").textContent = footer();
}

function voteCell(seat) {
  if (seat.spectator) return [el("span", { className: "hint" }, "watching")];
  if (state.phase === "waiting") return [el("span", { className: "hint", "aria-label": "no round yet" }, "–")];
  if (state.phase === "voting") {
    return seat.voted
      ? [el("span", { className: "ok", "aria-hidden": "true" }, "✔ "), "Voted"]
      : [el("span", { className: "hint", "aria-hidden": "true" }, "○ "), el("span", { className: "hint" }, "Not yet")];
  }
  if (seat.vote === null || seat.vote === undefined) {
    return [el("span", { "aria-hidden": "true" }, "☕ "), el("span", { className: "hint" }, "Did not vote")];
  }
  if (seat.vote === "N/A") return [el("span", { className: "chip no-vote" }, "⊘ N/A")];
  return [el("span", { className: "chip" }, seat.vote)];
}

function confidenceCell(seat) {
  if (state.phase !== "revealed" || !seat.confidence) return [];
  return [el("span", { className: "meter", "aria-hidden": "true" }, `${CONFIDENCE[seat.confidence]} `), seat.confidence];
}

function footer() {
  const voters = state.seats.filter((seat) => !seat.spectator && (seat.present || seat.voted));
  if (state.phase === "voting") {
    const voted = voters.filter((seat) => seat.voted).length;
    return `Voting in progress: ${voted} of ${voters.length} voted.`;
  }
  if (state.phase === "revealed") {
    return state.stats?.votes ? `Round ${state.round}: ${plural(state.stats.votes, "vote")}.` : "No votes were cast.";
  }
  return state.seats.length < 2 ? `Waiting for people to join: share the code ${code}.` : "Waiting to start voting.";
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function statsEntries(stats) {
  const entries = [];
  if (stats.kind === "yesno") {
    entries.push(["Yes", stats.yes === null ? "–" : `${stats.yes}%`], ["No", stats.no === null ? "–" : `${stats.no}%`]);
  } else {
    entries.push(["Low", stats.low ?? "–"], ["High", stats.high ?? "–"], ["Mode", stats.mode ?? "–"]);
    if (stats.mean !== null && stats.mean !== undefined) entries.push(["Average", String(stats.mean)]);
  }
  entries.push(["Confidence", stats.confidence ?? "–"]);
  if (stats.no_vote) entries.push(["N/A", String(stats.no_vote)]);
  entries.push(["Did not vote", String(stats.did_not_vote)]);
  return entries;
}

function renderResults() {
  const results = $("results");
  results.hidden = state.phase !== "revealed" || !state.stats;
  if (results.hidden) return;
  $("stats").replaceChildren(
    ...statsEntries(state.stats).map(([term, value]) =>
      el("div", { className: "stat", dataset: { stat: term.toLowerCase().replaceAll(" ", "-") } }, el("dt", {}, term), el("dd", {}, value)),
    ),
  );
}

function summary(stats) {
  const parts = statsEntries(stats)
    .filter(([term, value]) => value !== "–" && !(term === "Did not vote" && value === "0"))
    .map(([term, value]) => `${term.toLowerCase()} ${value}`);
  return parts.join(" · ") || "no votes";
}

async function renderRounds() {
  if (state.rounds === roundsShown || roundsLoading) return;
  roundsLoading = true;
  const wanted = state.rounds;
  try {
    const answer = await hub.emit("poker.rounds");
    roundsShown = wanted;
    const list = $("rounds");  // newest first
    list.replaceChildren(
      ...answer.rounds
        .slice()
        .reverse()
        .map((played) =>
          el(
            "li",
            { className: "round" },
            el(
              "details",
              {},
              el(
                "summary",
                {},
                el("strong", {}, `Round ${played.n}`),
                played.description ? ` · ${played.description.split("\n")[0].slice(0, 80)}` : "",
                el("span", { className: "hint" }, ` · ${summary(played.stats)}`),
              ),
              el(
                "ul",
                { className: "round-votes" },
                ...played.votes.map((vote) =>
                  el("li", {}, `${vote.name}: ${vote.vote ?? "did not vote"}${vote.confidence ? ` (${vote.confidence})` : ""}`),
                ),
              ),
            ),
          ),
        ),
    );
    if (!answer.rounds.length) list.append(el("li", { className: "hint empty" }, "No round revealed yet."));
    $("export-csv").disabled = $("export-md").disabled = !answer.rounds.length;
  } catch (error) {
    say(`Could not load the rounds: ${explain(error)}`);
  } finally {
    roundsLoading = false;
    if (state.rounds !== roundsShown && hub.state === "connected") renderRounds();
  }
}

// -- the moderator's moves ------------------------------------------------------------

$("start").addEventListener("click", () => send("poker.start"));
$("reveal").addEventListener("click", () => send("poker.reveal"));

$("describe-text").addEventListener("input", () => {
  describing = true;
  countDescription();
});
$("describe-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await send("poker.describe", { text: $("describe-text").value });
  if (answer) {
    describing = false;
    $("describe-text").value = answer.description;
    say("Description saved.");
  }
});
$("describe-clear").addEventListener("click", async () => {
  const answer = await send("poker.describe", { text: "" });
  if (answer) {
    describing = false;
    $("describe-text").value = "";
  }
});

$("seats").addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const { action, seat } = button.dataset;
  const name = nameOf(seat);
  if (action === "kick") {
    if (await confirmed("Remove from the room?", `Are you sure you want to remove ${name} from the room?`, "Remove")) {
      const answer = await send("poker.kick", { seat });
      if (answer) say(`${answer.name} was removed from the room.`);
    }
  } else if (action === "hand_over") {
    if (await confirmed("Hand over the moderator role?", `${name} will moderate the room, and you will be a voter.`, "Hand over")) {
      await send("poker.hand_over", { seat });
    }
  }
});

// -- settings -------------------------------------------------------------------------

const settings = $("settings");
$("settings-open").addEventListener("click", () => {
  const myself = state?.seats.find((seat) => seat.id === me());
  $("rename").value = myself?.name ?? prefs.name;
  $("rename-error").textContent = "";
  $("spectate").checked = Boolean(myself?.spectator);
  settings.showModal();
});
$("settings-close").addEventListener("click", () => settings.close());

$("rename-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("rename");
  const problem = nameProblem(input.value);
  $("rename-error").textContent = problem;
  if (problem) return;
  const answer = await send("poker.rename", { name: input.value });
  if (answer) {
    prefs.name = input.value.trim();
    seats.set(code, { ...seats.get(code), name: answer.name });
    input.value = answer.name;
    say("Name updated.");
    settings.close();
  }
});

$("spectate").addEventListener("change", async () => {
  const answer = await send("poker.spectate", { spectator: $("spectate").checked });
  if (answer) say(answer.spectator ? "You are watching: no card for you." : "You vote again.");
});

$("leave").addEventListener("click", async () => {
  settings.close();
  const text = "Your seat and your card go. If you moderate, the next person takes over.";
  if (!(await confirmed("Leave this room for good?", text, "Leave"))) return;
  const answer = await send("poker.leave");
  if (answer) removed("left");
});

// -- the rounds history -----------------------------------------------------------------

async function download(kind) {
  const token = seats.get(code)?.token ?? "";
  try {
    const response = await fetch(`/api/rooms/${code}/rounds.${kind}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    if (!response.ok) throw new Error(`the server said ${response.status}`);
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: `poker-${code}.${kind}`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) {
    say(`Could not export the rounds: ${error.message}`);
  }
}
$("export-csv").addEventListener("click", () => download("csv"));
$("export-md").addEventListener("click", () => download("md"));

// -- the room code, and confirmations ---------------------------------------------------

$("code").addEventListener("click", async () => {
  const link = `${location.origin}/room.html?code=${code}`;
  try {
    await navigator.clipboard.writeText(link);
    say(`Link copied: ${link}`);
  } catch {
    say(`The room code is ${code}: share ${link}`);
  }
});

/** Ask in a modal dialog; resolves true when confirmed. */
function confirmed(title, text, ok) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = ok;
  dialog.showModal();
  $("confirm-cancel").focus();
  return new Promise((resolve) => {
    const done = (answer) => {
      $("confirm-ok").onclick = $("confirm-cancel").onclick = dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    $("confirm-ok").onclick = () => done(true);
    $("confirm-cancel").onclick = () => done(false);
    dialog.onclose = () => done(false);
  });
}

// -- go ---------------------------------------------------------------------------------

if (seats.get(code)) start();
else showJoin();
