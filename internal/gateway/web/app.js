// The desktop page: one noVNC RFB connection to this gateway's websocket,
// reconnected with backoff after a drop, with the remote screen resized to
// the window and a clipboard panel.
import RFB from "/novnc/core/rfb.js";

const body = document.body;
const stateEl = document.getElementById("state");
const screen = document.getElementById("screen");
const reconnectBtn = document.getElementById("reconnect");
const clip = document.getElementById("clip");
const clipText = document.getElementById("clip-text");

// A local-access secret has done its work once the page loads; keep it out
// of the history and of anything copied from the address bar.
if (location.hash.includes("local=")) {
  history.replaceState(null, "", location.pathname + location.search);
}

let rfb = null;
let attempt = 0;
let timer = null;
const maxAttempts = 20;

function setState(state, text) {
  body.dataset.state = state;
  stateEl.textContent = text;
}

function wsURL() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  return scheme + location.host + body.dataset.ws;
}

function connect() {
  clearTimeout(timer);
  reconnectBtn.hidden = true;
  setState("connecting", attempt ? `Reconnecting (attempt ${attempt})…` : "Connecting…");

  rfb = new RFB(screen, wsURL(), { wsProtocols: ["binary"], shared: true });
  rfb.resizeSession = true;
  rfb.scaleViewport = false;
  rfb.clipViewport = false;
  rfb.focusOnClick = true;
  rfb.addEventListener("connect", () => {
    attempt = 0;
    setState("connected", "Connected");
    rfb.focus();
  });
  rfb.addEventListener("disconnect", (e) => scheduleReconnect(e.detail.clean));
  rfb.addEventListener("clipboard", (e) => { clipText.value = e.detail.text; });
  rfb.addEventListener("securityfailure", (e) => {
    setState("failed", "Refused by the desktop: " + (e.detail.reason || e.detail.status));
  });
}

// scheduleReconnect waits 1, 2, 4 … 30 s, counting down, then tries again.
function scheduleReconnect(clean) {
  rfb = null;
  attempt++;
  if (attempt > maxAttempts) {
    setState("failed", "Disconnected. Reload the page to sign in again.");
    reconnectBtn.hidden = false;
    return;
  }
  let wait = Math.min(30, 2 ** Math.min(attempt - 1, 5));
  reconnectBtn.hidden = false;
  const why = clean ? "Disconnected" : "Connection lost";
  const tick = () => {
    if (wait <= 0) { connect(); return; }
    setState("disconnected", `${why}; reconnecting in ${wait} s`);
    wait--;
    timer = setTimeout(tick, 1000);
  };
  tick();
}

reconnectBtn.addEventListener("click", () => {
  if (attempt > maxAttempts) { location.reload(); return; }
  connect();
});

document.getElementById("clip-toggle").addEventListener("click", (e) => {
  clip.hidden = !clip.hidden;
  e.target.setAttribute("aria-expanded", String(!clip.hidden));
});
document.getElementById("clip-send").addEventListener("click", () => {
  if (rfb) rfb.clipboardPasteFrom(clipText.value);
});

connect();
