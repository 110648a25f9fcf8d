// The desktop in the browser: noVNC (vendored from Debian) on the page's
// WebSocket. The candidate's view sends keys, pointer, clipboard and its
// size; a look-only view shows (the gateway drops what it would send). A
// dropped connection connects again to the same desktop; a close with a
// reason (the access was cut) is the end.
import RFB from '/static/novnc/core/rfb.js';

// Every module arrived: the page's load watchdog stands down.
window.plateauBureau = true;

const box = document.getElementById('bureau');
const state = document.getElementById('etat-bureau');
const writer = box.dataset.writer === 'oui';
const clipboard = document.getElementById('presse-papiers');
const send = document.getElementById('envoyer-presse-papiers');
let rfb = null;
let wait = 500;
const CONNECT_LIMIT = 15000;

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  rfb = new RFB(box, scheme + location.host + box.dataset.stream, { shared: true });
  rfb.viewOnly = !writer;
  rfb.scaleViewport = true;
  rfb.resizeSession = writer;
  rfb.focusOnClick = writer;
  // A desktop that has not answered the handshake in time (a node busy,
  // its desktop restarting) is asked again rather than waited on forever.
  const late = setTimeout(() => {
    state.textContent = 'pas de réponse, nouvel essai…';
    rfb.disconnect();
  }, CONNECT_LIMIT);
  rfb.addEventListener('connect', () => {
    clearTimeout(late);
    wait = 500;
    state.textContent = writer ? 'connecté' : 'connecté (lecture seule)';
    box.dataset.connected = 'oui';
    if (writer) rfb.focus();
  });
  rfb.addEventListener('disconnect', () => {
    clearTimeout(late);
    box.dataset.connected = 'non';
    // After the socket's own close event, which carries the reason.
    setTimeout(() => {
      if (reason) return;
      state.textContent = 'connexion perdue, nouvel essai…';
      setTimeout(connect, wait);
      wait = Math.min(wait * 2, 5000);
    }, 0);
  });
  rfb.addEventListener('clipboard', (e) => {
    if (clipboard) clipboard.value = e.detail.text;
  });
  // The gateway's close reason says why the session ended for good (noVNC
  // 1.3 keeps its socket there; the vendored copy is that version).
  const socket = rfb._sock && rfb._sock._websocket;
  if (socket) {
    socket.addEventListener('close', (e) => {
      if (e.reason) {
        reason = e.reason;
        state.textContent = e.reason;
      }
    });
  }
}
let reason = '';

if (send) {
  send.addEventListener('click', () => {
    if (rfb) rfb.clipboardPasteFrom(clipboard.value);
  });
}
connect();
