// What every page of the poker app shares: the DOM helpers, the HTTP API, what the
// browser keeps (seat tokens, the name, the theme), and turning links into anchors.
//
// Anything a user typed (names, descriptions, custom cards) is untrusted: it is
// only ever put in the page with textContent, never as HTML.

export const $ = (id) => document.getElementById(id);

/** A new element: `el("li", {className: "x", dataset: {id}}, "text", child)`. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("aria-") || key === "role") node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }
  return node;
}

export const CODE = /^[A-Z]{4}$/;

/** An error from the app's HTTP API, with its status and `reason`. */
export class ApiError extends Error {
  constructor(status, message, reason) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

/** Call the HTTP API; resolves with the JSON answer, rejects with an ApiError. */
export async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError(0, "The server cannot be reached. Check your connection and try again.", "network");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    // not JSON: the status says enough
  }
  if (!response.ok) {
    const message =
      response.status === 429
        ? "Too many attempts. Please wait and try again later."
        : data?.error ?? `The server said ${response.status}.`;
    throw new ApiError(response.status, message, data?.reason ?? "http");
  }
  return data;
}

// -- what the browser keeps ---------------------------------------------------------

function read(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // storage blocked: nothing is remembered
  }
}

/** Seats by room code: `{token, seat, name}`. The token is the seat's secret:
 *  it never leaves this browser except to this server. */
export const seats = {
  get(code) {
    try {
      const entry = JSON.parse(read(`poker:seat:${code}`));
      return typeof entry?.token === "string" ? entry : null;
    } catch {
      return null;
    }
  },
  set(code, entry) {
    write(`poker:seat:${code}`, JSON.stringify({ ...entry, at: Date.now() }));
  },
  remove(code) {
    write(`poker:seat:${code}`, null);
  },
  /** The codes of the rooms this browser has a seat in, latest first. */
  codes() {
    const found = [];
    try {
      for (let i = 0; i < localStorage.length; i += 1) {
        const key = localStorage.key(i);
        const code = key?.startsWith("poker:seat:") ? key.slice(11) : "";
        if (CODE.test(code)) found.push({ code, ...seats.get(code) });
      }
    } catch {
      // storage blocked
    }
    return found.filter((entry) => entry.token).sort((a, b) => (b.at ?? 0) - (a.at ?? 0));
  },
};

export const prefs = {
  get name() {
    return read("poker:name") ?? "";
  },
  set name(value) {
    write("poker:name", value);
  },
  get theme() {
    const theme = read("poker:theme");
    return theme === "light" || theme === "dark" ? theme : "system";
  },
  set theme(value) {
    write("poker:theme", value === "system" ? null : value);
    if (value === "system") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = value;
  },
};

/** Bind a <select> of System / Light / Dark to the saved theme. */
export function themeSelect(select) {
  select.value = prefs.theme;
  select.addEventListener("change", () => {
    prefs.theme = select.value;
  });
  window.addEventListener("storage", (event) => {
    if (event.key === "poker:theme") {
      prefs.theme = prefs.theme; // another tab changed it: apply it here too
      select.value = prefs.theme;
    }
  });
}

/** The reason a name is refused, or "" (the server has the same rules). */
export function nameProblem(name, max = 20) {
  const clean = name.trim().split(/\s+/).join(" ");
  if (!clean) return "Please enter a name.";
  if ([...clean].length > max) return `Name too long. Must be no more than ${max} characters.`;
  return "";
}

const LINK = /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]'}]/g;

/** Text with its http(s) links made clickable (new tab, no referrer), as nodes. */
export function linkify(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    fragment.append(text.slice(last, match.index));
    const link = el("a", { href: match[0], target: "_blank", rel: "noopener noreferrer" }, match[0]);
    fragment.append(link);
    last = match.index + match[0].length;
  }
  fragment.append(text.slice(last));
  return fragment;
}
