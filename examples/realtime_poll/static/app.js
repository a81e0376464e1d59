// The live poll's page (docs/realtime-tutorial.md). Everything from the hub is
// untrusted text: it reaches the page through textContent only, never as HTML.

import { connect } from "/rt/client.js";

const $ = (id) => document.getElementById(id);

// -- Logging in: once per tab (a reload keeps the token) ------------------------------

async function login() {
  const saved = sessionStorage.getItem("poll-token");
  if (saved) return saved;
  const form = $("login");
  form.hidden = false;
  for (;;) {
    const name = await new Promise((resolve) => {
      form.onsubmit = (event) => {
        event.preventDefault();
        resolve(form.elements.name.value);
      };
    });
    const response = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name }),
    });
    if (response.ok) {
      const { token } = await response.json();
      sessionStorage.setItem("poll-token", token);
      form.hidden = true;
      return token;
    }
    $("login-error").textContent = await response.text();
  }
}

const token = await login();
const hub = connect("/rt", { auth: { token } });
$("app").hidden = false;

hub.onState((state, info) => {
  $("state").dataset.state = state;
  $("state").textContent = state === "reconnecting" ? `reconnecting (try ${info.attempt})` : state;
  if (state === "failed") {
    // 4401: the hub does not know the token (it restarted): log in again.
    sessionStorage.removeItem("poll-token");
    $("state").textContent = `${info.reason}: reload the page`;
  }
});

// -- Who is online: presence in "lobby", the room the hub puts everyone in ---------

function showPeople(list, members) {
  list.replaceChildren(
    ...[...members.values()].map((member) => {
      const item = document.createElement("li");
      item.textContent = member.info.name;
      return item;
    }),
  );
}

hub.onPresence("lobby", (members) => showPeople($("online"), members));

// -- The list of polls ----------------------------------------------------------------

function addPoll(poll, { atTop = true } = {}) {
  const item = document.createElement("li");
  const button = document.createElement("button");
  button.textContent = poll.question;
  button.onclick = () => openPoll(poll.id);
  item.append(button);
  if (atTop) $("polls").prepend(item);
  else $("polls").append(item);
}

async function loadPolls() {
  const polls = await hub.emit("poll.list");
  $("polls").replaceChildren();
  for (const poll of polls) addPoll(poll, { atTop: false });
}

hub.on("poll.created", (poll) => addPoll(poll));

$("new-poll").onsubmit = async (event) => {
  event.preventDefault();
  const form = event.target;
  const options = form.elements.options.value.split("\n");
  try {
    const { id } = await hub.emit("poll.create", { question: form.elements.question.value, options });
    form.reset();
    $("new-error").textContent = "";
    await openPoll(id);
  } catch (error) {
    $("new-error").textContent = error.message; // a HubError: "2 to 8 options ...", say
  }
};

// -- One poll: its room, its votes, who is watching ----------------------------------

let current = null; // {id, state, offPresence} of the poll shown

async function openPoll(id) {
  if (current?.id === id) return;
  if (current) {
    current.offPresence();
    hub.leave(`poll:${current.id}`).catch(() => {});
  }
  current = { id, state: null, offPresence: hub.onPresence(`poll:${id}`, showWatching) };
  await hub.join(`poll:${id}`); // onRoom below loads the poll
}

function showWatching(members) {
  $("watching").textContent = [...members.values()].map((m) => m.info.name).join(", ");
}

async function loadPoll(id) {
  const state = await hub.emit("poll.get", id);
  if (current?.id === id) {
    current.state = state;
    showPoll();
  }
}

function showPoll() {
  const { state } = current;
  const total = state.counts.reduce((a, b) => a + b, 0);
  $("poll").hidden = false;
  $("question").textContent = state.question;
  $("options").replaceChildren(
    ...state.options.map((option, index) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.textContent = option;
      button.disabled = state.closed;
      button.onclick = () => vote(index);
      if (state.mine === index) item.className = "mine";
      const bar = document.createElement("progress");
      bar.max = Math.max(total, 1);
      bar.value = state.counts[index];
      const count = document.createElement("span");
      count.textContent = String(state.counts[index]);
      item.append(button, bar, count);
      return item;
    }),
  );
  const votes = total === 1 ? "1 vote" : `${total} votes`;
  $("poll-status").textContent = state.closed ? `Closed: ${votes}` : votes;
}

async function vote(option) {
  const { id } = current;
  try {
    await hub.emit("poll.vote", { poll: id, option });
    if (current?.id === id) {
      current.state.mine = option;
      showPoll();
    }
  } catch (error) {
    $("poll-status").textContent = error.message; // "this poll is closed"
  }
}

hub.on("poll.tally", ({ id, counts }) => {
  if (current?.id === id && current.state) {
    current.state.counts = counts;
    showPoll();
  }
});

hub.on("poll.closed", ({ id, counts }) => {
  if (current?.id === id && current.state) {
    Object.assign(current.state, { counts, closed: true });
    showPoll();
  }
});

// -- Joining, and coming back after a reconnect ------------------------------------

hub.onRoom((change) => {
  if (change.type !== "joined" || change.recovered === true) return; // true: replayed
  // null (a first join) or false (history lost): load the state, then follow events.
  const loaded =
    change.room === "lobby" ? loadPolls()
    : change.room === `poll:${current?.id}` ? loadPoll(current.id)
    : null;
  loaded?.catch((error) => console.warn(`could not load ${change.room}: ${error.message}`));
});
