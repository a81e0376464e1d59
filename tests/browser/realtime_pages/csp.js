// Imports the client under the page's strict Content-Security-Policy, connects and
// shows the state in the body's data-state (set through the DOM, not innerHTML).

import { connect } from "/rt/client.js";

window.violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.violations.push(`${event.violatedDirective}: ${event.blockedURI}`);
});
const hub = connect("/rt", { auth: { token: "t-ada" } });
hub.onState((state) => {
  document.body.dataset.state = state;
});
