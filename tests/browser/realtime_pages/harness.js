// The test page's side of tests/browser/test_realtime_client.py: it connects with
// the hub's own /rt/client.js and records what the hub object reports, for the
// tests to read with page.evaluate.

import { connect, HubError } from "/rt/client.js";

let hub = null;
let log = null;

window.rt = {
  /** connect("/rt", options); `authToken` makes `auth` a function (counted in log.authCalls). */
  start(options = {}) {
    const { authToken, ...rest } = options;
    log = { states: [], events: [], rooms: [], presence: {}, errors: [], authCalls: 0, calls: [] };
    if (authToken !== undefined) {
      rest.auth = async () => {
        log.authCalls += 1;
        return { token: authToken };
      };
    }
    hub = connect(rest.url ?? "/rt", rest);
    hub.onState((state, info) => log.states.push({ state, ...info }));
    hub.onRoom(({ error, ...change }) => log.rooms.push(error ? { ...change, error: error.code } : change));
    hub.onError((error) => log.errors.push({ code: error.code, message: error.message }));
    window.hub = hub;
    window.log = log;
    return hub.state;
  },

  /** Record every `event` named `name`, with its meta. */
  listen(name) {
    hub.on(name, (data, meta) => log.events.push({ data, ...meta }));
  },

  /** Record every presence change of `room`. */
  watch(room) {
    log.presence[room] = [];
    hub.onPresence(room, (members, { joins, leaves, full }) => {
      log.presence[room].push({
        members: Object.fromEntries(members),
        joins: [...joins.keys()],
        leaves: [...leaves.keys()],
        full,
      });
    });
  },

  /** Answer the hub's calls of `event`: echo, throw or reply late. */
  handle(event, behaviour) {
    hub.handle(event, async (data) => {
      log.calls.push({ event, data });
      if (behaviour === "throw") throw new Error(`no thanks: ${data.question}`);
      if (behaviour === "hub-error") throw new HubError("invalid_payload", "bad question", { field: "question" });
      return { answer: `yes to ${data.question}` };
    });
  },

  /** A promise's outcome as JSON: {ok: value} or {error: {...}}. */
  async outcome(promise) {
    try {
      return { ok: await promise };
    } catch (error) {
      return {
        error: {
          name: error.name,
          hubError: error instanceof HubError,
          code: error.code,
          message: error.message,
          field: error.field,
          retryAfter: error.retryAfter,
        },
      };
    }
  },

  members(room) {
    return Object.fromEntries(hub.presence(room));
  },

  rooms() {
    return Object.fromEntries(hub.rooms);
  },
};
